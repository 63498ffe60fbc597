package dev.farmem.bench;

import dev.farmem.transport.ByteSize;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * {@code --name value} options and {@code --flag}s of the demo and the benchmarks. Unknown or
 * malformed options throw {@link IllegalArgumentException} saying what was wrong; the mains
 * print it with their usage and exit 2.
 */
public final class CommandLine {

    private final Map<String, String> values = new HashMap<>();
    private final Set<String> flagsGiven = new java.util.HashSet<>();

    public CommandLine(String[] args, Set<String> valueOptions, Set<String> flagOptions) {
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String name = a.startsWith("--") ? a.substring(2) : null;
            String inline = null;
            if (name != null && name.contains("=")) {
                inline = name.substring(name.indexOf('=') + 1);
                name = name.substring(0, name.indexOf('='));
            }
            if (name != null && flagOptions.contains(name) && inline == null) {
                flagsGiven.add(name);
            } else if (name != null && valueOptions.contains(name)) {
                if (inline == null) {
                    if (i + 1 >= args.length) throw new IllegalArgumentException("option --" + name + " needs a value");
                    inline = args[++i];
                }
                values.put(name, inline);
            } else {
                throw new IllegalArgumentException("unknown option '" + a + "'");
            }
        }
    }

    public boolean flag(String name) {
        return flagsGiven.contains(name);
    }

    public String string(String name, String fallback) {
        return values.getOrDefault(name, fallback);
    }

    public long bytes(String name, long fallback) {
        String v = values.get(name);
        return v == null ? fallback : ByteSize.parse(v, "--" + name);
    }

    public long integer(String name, long fallback, long min, long max) {
        String v = values.get(name);
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
