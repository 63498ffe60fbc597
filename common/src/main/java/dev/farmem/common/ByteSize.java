package dev.farmem.common;

import java.util.Locale;

/**
 * Byte sizes as people write them: {@code 4GiB}, {@code 64MiB}, {@code 512Ki}, {@code 1G},
 * {@code 4096}. Binary suffixes (Ki, Mi, Gi, Ti, with or without a trailing B) are powers of
 * 1024; decimal ones (k, K, M, G, T, KB, MB, GB, TB, as in Kubernetes quantities) are powers of 1000.
 */
public final class ByteSize {

    private ByteSize() {}

    /** Parses a size; {@code what} names the setting in the error message. */
    public static long parse(String text, String what) {
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + " " + e.getMessage());
        }
    }

    /**
     * Parses a size; the error message starts with the text, without naming the setting
     * ({@code 'lots' is not a size: ...}), for a caller that names it: picocli's converter.
     */
    public static long parse(String text) {
        if (text == null || text.isBlank()) throw new IllegalArgumentException("is empty: give a size such as 64MiB or 4GiB");
        String t = text.trim();
        int i = 0;
        while (i < t.length() && Character.isDigit(t.charAt(i))) i++;
        if (i == 0) throw bad(text);
        String unit = t.substring(i).trim();
        long multiplier = switch (unit.toLowerCase(Locale.ROOT)) {
            case "", "b" -> 1L;
            case "ki", "kib" -> 1L << 10;
            case "mi", "mib" -> 1L << 20;
            case "gi", "gib" -> 1L << 30;
            case "ti", "tib" -> 1L << 40;
            case "k", "kb" -> 1_000L;
            case "m", "mb" -> 1_000_000L;
            case "g", "gb" -> 1_000_000_000L;
            case "t", "tb" -> 1_000_000_000_000L;
            default -> throw bad(text);
        };
        long number;
        try {
            number = Long.parseLong(t.substring(0, i));
        } catch (NumberFormatException e) {
            throw bad(text);
        }
        try {
            return Math.multiplyExact(number, multiplier);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("'" + text + "' is too large");
        }
    }

    /** The shortest exact form: {@code 4GiB}, {@code 1536KiB}, {@code 100B}. */
    public static String format(long bytes) {
        return inLargestUnit(bytes, new String[] {"B", "KiB", "MiB", "GiB", "TiB"});
    }

    /** The shortest exact Kubernetes quantity, as kubectl users read sizes: {@code 768Mi}, {@code 3Gi}, {@code 1000}. */
    public static String quantity(long bytes) {
        return inLargestUnit(bytes, new String[] {"", "Ki", "Mi", "Gi", "Ti", "Pi"});
    }

    private static String inLargestUnit(long bytes, String[] units) {
        int u = 0;
        long v = bytes;
        while (u < units.length - 1 && v != 0 && v % 1024 == 0) {
            v /= 1024;
            u++;
        }
        return v + units[u];
    }

    private static IllegalArgumentException bad(String text) {
        return new IllegalArgumentException("'" + text + "' is not a size: write a whole number with an optional unit, e.g. 64MiB, 4GiB, 512Ki, 1G");
    }
}
