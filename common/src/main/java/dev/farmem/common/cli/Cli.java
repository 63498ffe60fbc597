package dev.farmem.common.cli;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Help;
import picocli.CommandLine.Help.Ansi.Text;
import picocli.CommandLine.Help.ColorScheme;
import picocli.CommandLine.Help.IOptionRenderer;
import picocli.CommandLine.Help.IParamLabelRenderer;
import picocli.CommandLine.MissingParameterException;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * The command line of every farmem process, on picocli: a class with {@code @Command} and
 * {@code @Option} fields describes the flags, and this reads them the same way everywhere.
 * <ul>
 * <li>{@code --help} (and {@code -h}) on every command; the help names each option's
 *     environment variable and default.</li>
 * <li>Options not given come from the environment, as {@link EnvironmentDefaults} says.</li>
 * <li>{@code --name VALUE} or {@code --name=VALUE}; an option given twice takes the last value;
 *     no {@code @file} expansion (a value may start with {@code @}).</li>
 * <li>Bad input is an {@link IllegalArgumentException} whose message says what was wrong in
 *     farmem's words ({@code unknown option '--colour': see --help}, {@code option --rounds
 *     needs a value}, {@code --cache-bytes 'lots' is not a size: ...}); a main prints it with
 *     {@code see <command> --help} and exits 2.</li>
 * </ul>
 *
 * <pre>{@code
 * Settings s = Cli.of(new Flags(), EnvironmentDefaults.everyOption(System.getenv())).parseOrExit(args, Flags::settings);
 * }</pre>
 *
 * @param <T> the annotated command class
 */
public final class Cli<T> {

    private final T command;
    private final EnvironmentDefaults environment;
    private final CommandLine commandLine;
    private List<String> args = List.of();

    private Cli(T command, EnvironmentDefaults environment) {
        this.command = command;
        this.environment = environment;
        this.commandLine = new CommandLine(command)
                .setDefaultValueProvider(environment)
                .setExpandAtFiles(false) // a value may start with @
                .setOverwrittenOptionsAllowed(true) // the last wins: a wrapper may append a flag to a command line
                .setColorScheme(Help.defaultColorScheme(Help.Ansi.OFF)) // the same help in a pod's log as in a terminal
                .setUsageHelpWidth(120)
                // picocli's own say "'x' is not an int"; these say what to write
                .registerConverter(Integer.class, Converters::wholeInt)
                .registerConverter(Integer.TYPE, Converters::wholeInt)
                .registerConverter(Long.class, Converters::whole)
                .registerConverter(Long.TYPE, Converters::whole)
                .registerConverter(Double.class, Converters::number)
                .registerConverter(Double.TYPE, Converters::number);
        commandLine.getCommandSpec().usageMessage().abbreviateSynopsis(true);
        if (commandLine.getCommandSpec().options().stream().noneMatch(OptionSpec::usageHelp)) {
            commandLine.getCommandSpec().addOption(OptionSpec.builder("-h", "--help").usageHelp(true)
                    .description("show this help and exit").build());
        }
        // Options in the order declared, each ending with its variable and default.
        commandLine.getHelpSectionMap().put(CommandLine.Model.UsageMessageSpec.SECTION_KEY_OPTION_LIST, help -> help.optionList(
                new Help.Layout(help.colorScheme(), help.createDefaultLayout().textTable(), new WithSources(help.createDefaultOptionRenderer()),
                        help.createDefaultParameterRenderer()), null, help.parameterLabelRenderer()));
    }

    /** The command line of {@code command} (an instance of a class annotated with {@code @Command}). */
    public static <T> Cli<T> of(T command, EnvironmentDefaults environment) {
        return new Cli<>(command, environment);
    }

    /** The command whose fields the last {@link #parse} filled. */
    public T command() {
        return command;
    }

    /**
     * Reads {@code args} (over the environment) into the command's fields. Returns false when
     * {@code --help} was given: nothing else was checked then, print {@link #usage()}.
     *
     * @throws IllegalArgumentException saying what was wrong with the command line
     */
    public boolean parse(String... args) {
        this.args = List.of(args);
        try {
            commandLine.parseArgs(args);
        } catch (ParameterException e) {
            if (this.args.contains("--help") || this.args.contains("-h")) return false; // whoever asks for help gets it, not an error
            throw new IllegalArgumentException(explain(e), e);
        }
        return !commandLine.isUsageHelpRequested();
    }

    /** The command read from {@code args}; for tests and for commands that check more themselves. */
    public T read(String... args) {
        parse(args);
        return command;
    }

    /**
     * For a main: reads {@code args}, then {@code then} checks and converts the options. {@code --help}
     * prints the usage and exits 0; bad input (a picocli error or an {@link IllegalArgumentException} from
     * {@code then}) prints what was wrong and exits 2.
     */
    public <R> R parseOrExit(String[] args, Function<T, R> then) {
        try {
            if (!parse(args)) {
                System.out.print(usage());
                System.exit(0);
            }
            return then.apply(command);
        } catch (IllegalArgumentException e) {
            String message = e.getMessage();
            System.err.println(name().replaceFirst("^\\./", "") + ": " + message + (message.contains("--help") ? "" : "; see " + name() + " --help"));
            System.exit(2);
            throw e; // not reached
        }
    }

    /** The help text: synopsis, description, every option with its variable and default, footer. */
    public String usage() {
        String usage = commandLine.getUsageMessage();
        return usage.endsWith("\n") ? usage : usage + "\n";
    }

    /** The command's name as a person types it, e.g. {@code ./farmem agent}. */
    public String name() {
        return commandLine.getCommandName();
    }

    /** {@code value}, or an error naming both ways to give option {@code name} when it is null. */
    public <V> V required(String name, V value) {
        if (value != null) return value;
        OptionSpec option = commandLine.getCommandSpec().findOption(name);
        String variable = option == null ? null : environment.variable(option);
        throw new IllegalArgumentException(name + " is required" + (variable == null ? "" : " (or set " + variable + ")") + "; see --help");
    }

    /** {@code value} when it is in {@code min..max}, else an error saying so. */
    public static long inRange(String name, long value, long min, long max) {
        if (value >= min && value <= max) return value;
        if (max == Long.MAX_VALUE || max == Integer.MAX_VALUE) throw new IllegalArgumentException(name + " " + value + " must be at least " + min);
        throw new IllegalArgumentException(name + " " + value + " is not in " + min + ".." + max);
    }

    /** The same for an int option. */
    public static int inRange(String name, int value, int min, int max) {
        return (int) inRange(name, (long) value, min, max);
    }

    /** A comma-separated list of whole percentages in 1..100 (cache sizes of the benchmarks), or an error naming the entry. */
    public static List<Integer> percentages(String name, String list) {
        List<Integer> out = new ArrayList<>();
        for (String entry : list.split(",")) {
            int p;
            try {
                p = Integer.parseInt(entry.trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " entry '" + entry + "' is not a whole percentage");
            }
            if (p < 1 || p > 100) throw new IllegalArgumentException(name + " entry " + p + " is not in 1..100");
            out.add(p);
        }
        return out;
    }

    /** picocli's exception in farmem's words: what was wrong and what to do. */
    private String explain(ParameterException e) {
        if (e instanceof UnmatchedArgumentException u && !u.getUnmatched().isEmpty()) {
            String first = u.getUnmatched().get(0);
            if (!first.startsWith("-")) return "unexpected argument '" + first + "': options start with --, see --help";
            List<String> suggestions = u.getSuggestions();
            return "unknown option '" + first + "'" + (suggestions.isEmpty() ? "" : " (did you mean " + String.join(" or ", suggestions) + "?)")
                    + ": see --help";
        }
        if (e instanceof MissingParameterException m && !m.getMissing().isEmpty() && m.getMissing().get(0) instanceof OptionSpec o) {
            return "option " + o.longestName() + " needs a value";
        }
        if (e.getArgSpec() instanceof OptionSpec o && e.getCause() != null) { // a value the converter refused
            String variable = environment.source(o);
            String origin = variable != null && !givenOnCommandLine(o) ? " (the value of " + variable + ")" : "";
            return o.longestName() + " " + e.getCause().getMessage() + origin;
        }
        return e.getMessage();
    }

    /** Whether the last command line named the option (its value then did not come from the environment). */
    private boolean givenOnCommandLine(OptionSpec option) {
        List<String> names = Arrays.asList(option.names());
        return args.stream().anyMatch(a -> names.contains(a.contains("=") ? a.substring(0, a.indexOf('=')) : a));
    }

    /** picocli's option rows, the last one ending with where a value may also come from: the environment and the default. */
    private final class WithSources implements IOptionRenderer {
        private final IOptionRenderer rows;

        WithSources(IOptionRenderer rows) {
            this.rows = rows;
        }

        @Override
        public Text[][] render(OptionSpec option, IParamLabelRenderer labels, ColorScheme scheme) {
            Text[][] r = rows.render(option, labels, scheme);
            List<String> sources = new ArrayList<>();
            String variable = environment.variable(option);
            if (variable != null) sources.add("env " + variable);
            if (option.defaultValue() != null && !option.defaultValue().isEmpty() && option.arity().max() > 0) {
                sources.add("default " + option.defaultValue());
            }
            if (sources.isEmpty()) return r;
            Text[] last = r[r.length - 1];
            String text = last[last.length - 1].plainString();
            last[last.length - 1] = scheme.text(text + (text.isEmpty() ? "" : " ") + "(" + String.join(", ", sources) + ")");
            return r;
        }
    }
}
