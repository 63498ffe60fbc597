package dev.farmem.common.cli;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Where an option not given on the command line comes from: the environment variable
 * {@code FARMEM_NAME} of option {@code --name} (upper case, dashes as underscores), which is how
 * pods set them from the Downward API and mounted Secrets. The command line wins; an empty
 * variable counts as unset; with no variable, the option's own default applies.
 *
 * <pre>{@code
 * EnvironmentDefaults.everyOption(System.getenv())                              // --cache-bytes from FARMEM_CACHE_BYTES
 *         .renamed("--shm", "FARMEM_SHM_DIR")                                  // one variable applications read too
 * EnvironmentDefaults.only(System.getenv(), Map.of("--shm", "FARMEM_SHM_DIR"))  // no other option reads the environment
 * EnvironmentDefaults.NONE                                                      // the benchmarks: flags only
 * }</pre>
 */
public final class EnvironmentDefaults implements IDefaultValueProvider {

    /** No option reads the environment. */
    public static final EnvironmentDefaults NONE = new EnvironmentDefaults(Map.of(), false, Map.of());

    private final Map<String, String> environment;
    private final boolean everyOption;
    private final Map<String, String> variables;

    private EnvironmentDefaults(Map<String, String> environment, boolean everyOption, Map<String, String> variables) {
        this.environment = environment;
        this.everyOption = everyOption;
        this.variables = variables;
    }

    /** Every option from its {@code FARMEM_*} variable in {@code environment} (e.g. {@code System.getenv()}). */
    public static EnvironmentDefaults everyOption(Map<String, String> environment) {
        return new EnvironmentDefaults(environment, true, Map.of());
    }

    /** Only the options named (as on the command line, {@code --shm}), each from the variable it maps to. */
    public static EnvironmentDefaults only(Map<String, String> environment, Map<String, String> variables) {
        return new EnvironmentDefaults(environment, false, Map.copyOf(variables));
    }

    /** The same, with {@code option} read from {@code variable} instead of its derived name. */
    public EnvironmentDefaults renamed(String option, String variable) {
        Map<String, String> v = new HashMap<>(variables);
        v.put(option, variable);
        return new EnvironmentDefaults(environment, everyOption, Map.copyOf(v));
    }

    /** The variable an option name falls back to: {@code --cache-bytes} is {@code FARMEM_CACHE_BYTES}. */
    public static String derivedName(String option) {
        return "FARMEM_" + option.replaceFirst("^-+", "").toUpperCase(Locale.ROOT).replace('-', '_');
    }

    /** The variable {@code option} reads here, or null when it reads none (help options never do). */
    public String variable(OptionSpec option) {
        if (option.usageHelp() || option.versionHelp()) return null;
        String name = option.longestName();
        String v = variables.get(name);
        if (v != null) return v;
        return everyOption ? derivedName(name) : null;
    }

    /** The variable {@code option} reads and its non-empty value, or null. */
    String source(OptionSpec option) {
        String variable = variable(option);
        if (variable == null) return null;
        String value = environment.get(variable);
        return value == null || value.isEmpty() ? null : variable;
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option)) return null;
        String variable = source(option);
        return variable == null ? null : environment.get(variable);
    }
}
