package dev.farmem.common;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * The command line of every farmem process: options {@code --name VALUE} or {@code --name=VALUE}
 * and bare {@code --flag}s. An option not given on the command line may come from the
 * environment as {@code FARMEM_NAME} (upper case, dashes as underscores), which is how pods set
 * them; the command line wins. Unknown or malformed options throw
 * {@link IllegalArgumentException} saying what was wrong; the mains print it with their usage and
 * exit 2.
 *
 * <pre>{@code
 * CommandLine cl = new CommandLine(args, Set.of("cache-bytes"), Set.of("help"), System::getenv);
 * long cache = cl.bytes("cache-bytes", 64L << 20);   // --cache-bytes 256Mi, or FARMEM_CACHE_BYTES
 * }</pre>
 */
public final class CommandLine {

    private final Map<String, String> values = new HashMap<>();
    private final Set<String> flagsGiven = new HashSet<>();
    private final Function<String, String> environment;

    /** Options from {@code args} only. */
    public CommandLine(String[] args, Set<String> valueOptions, Set<String> flagOptions) {
        this(args, valueOptions, flagOptions, name -> null);
    }

    /** Options from {@code args}, else from {@code environment} (e.g. {@code System::getenv}). */
    public CommandLine(String[] args, Set<String> valueOptions, Set<String> flagOptions, Function<String, String> environment) {
        this.environment = environment;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) throw new IllegalArgumentException("unexpected argument '" + a + "': options start with --, see --help");
            String name = a.substring(2);
            String inline = null;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                inline = name.substring(eq + 1);
                name = name.substring(0, eq);
            }
            if (flagOptions.contains(name) && inline == null) {
                flagsGiven.add(name);
            } else if (valueOptions.contains(name)) {
                if (inline == null) {
                    if (i + 1 >= args.length) throw new IllegalArgumentException("option --" + name + " needs a value");
                    inline = args[++i];
                }
                values.put(name, inline);
            } else {
                throw new IllegalArgumentException("unknown option '" + a + "': see --help");
            }
        }
    }

    /** The environment variable an option falls back to: {@code cache-bytes} is {@code FARMEM_CACHE_BYTES}. */
    public static String environmentName(String option) {
        return "FARMEM_" + option.toUpperCase(Locale.ROOT).replace('-', '_');
    }

    public boolean flag(String name) {
        return flagsGiven.contains(name);
    }

    /** The option's value from the command line, else from a non-empty {@link #environmentName}, else null. */
    public String value(String name) {
        return value(name, environmentName(name));
    }

    /** The same, for an option whose environment variable has another name. */
    public String value(String name, String environmentVariable) {
        String v = values.get(name);
        if (v != null) return v;
        String e = environment.apply(environmentVariable);
        return e == null || e.isEmpty() ? null : e;
    }

    public boolean has(String name) {
        return value(name) != null;
    }

    public String string(String name, String fallback) {
        String v = value(name);
        return v == null ? fallback : v;
    }

    public String string(String name, String environmentVariable, String fallback) {
        String v = value(name, environmentVariable);
        return v == null ? fallback : v;
    }

    /** The value, or an error naming both ways to give it. */
    public String required(String name) {
        String v = value(name);
        if (v == null) throw new IllegalArgumentException("--" + name + " is required (or set " + environmentName(name) + "); see --help");
        return v;
    }

    /** A size such as 4096, 64MiB or 1G ({@link ByteSize}). */
    public long bytes(String name, long fallback) {
        String v = value(name);
        return v == null ? fallback : ByteSize.parse(v, "--" + name);
    }

    public long integer(String name, long fallback, long min, long max) {
        String v = value(name);
        if (v == null) return fallback;
        long n;
        try {
            n = Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " '" + v + "' is not a whole number");
        }
        if (n < min || n > max) throw new IllegalArgumentException("--" + name + " " + n + " is not in " + min + ".." + max);
        return n;
    }
}
