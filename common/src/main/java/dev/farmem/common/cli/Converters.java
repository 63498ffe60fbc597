package dev.farmem.common.cli;

import dev.farmem.common.ByteSize;
import java.time.Duration;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

/**
 * How option values are read. Each message starts with the value and {@link Cli} puts the
 * option's name in front: {@code --cache-bytes 'lots' is not a size: ...}.
 */
public final class Converters {

    private Converters() {}

    /** A size such as 4096, 64MiB, 512Ki or 1G ({@link ByteSize}): {@code @Option(converter = Converters.Bytes.class) long size}. */
    public static final class Bytes implements ITypeConverter<Long> {
        @Override
        public Long convert(String text) {
            try {
                return ByteSize.parse(text);
            } catch (IllegalArgumentException e) {
                throw new TypeConversionException(e.getMessage());
            }
        }
    }

    /** A duration as people write one: {@code 500ms}, {@code 10s}, {@code 1m}. */
    public static final class Durations implements ITypeConverter<Duration> {
        @Override
        public Duration convert(String text) {
            String t = text.trim();
            try {
                if (t.endsWith("ms")) return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
                if (t.endsWith("s")) return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
                if (t.endsWith("m")) return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
            } catch (NumberFormatException ignored) {
                // falls through to the message below
            }
            throw new TypeConversionException("'" + text + "' is not a duration: write e.g. 500ms, 10s or 1m");
        }
    }

    /** Whole numbers, registered by {@link Cli} for every int and long option that names no converter of its own. */
    static long whole(String text) {
        try {
            return Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + text + "' is not a whole number");
        }
    }

    static int wholeInt(String text) {
        long v = whole(text);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) throw new TypeConversionException("'" + text + "' is too large");
        return (int) v;
    }

    static double number(String text) {
        try {
            return Double.parseDouble(text.trim());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("'" + text + "' is not a number");
        }
    }
}
