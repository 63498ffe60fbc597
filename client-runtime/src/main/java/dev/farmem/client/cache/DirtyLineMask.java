package dev.farmem.client.cache;

/**
 * Dirty-line bitmaps of one block: bit {@code i} of word {@code i / 64} is line {@code i}
 * (bytes {@code [64 i, 64 i + 64)}). Pure functions over {@code long[]}; nothing allocates.
 */
public final class DirtyLineMask {

    private DirtyLineMask() {}

    /** The bits of word {@code word} covering lines {@code [fromLine, toLine)} (block-relative line numbers). */
    public static long bitsInWord(int word, int fromLine, int toLine) {
        int lo = Math.max(fromLine, word * 64) - word * 64;
        int hi = Math.min(toLine, word * 64 + 64) - word * 64;
        if (hi <= lo) return 0;
        long upTo = hi == 64 ? -1L : (1L << hi) - 1;
        return upTo & (-1L << lo);
    }

    /**
     * Widens every dirty line to the whole tracking unit it belongs to: with a unit of
     * {@code linesPerUnit} lines, any dirty line makes its unit's every line dirty. This is how
     * coarser tracking (up to the whole block, the page baseline) runs in the same code.
     */
    public static void widen(long[] words, int wordCount, int linesPerUnit) {
        if (linesPerUnit <= 1) return;
        if (linesPerUnit >= 64) {
            int wordsPerUnit = linesPerUnit / 64;
            for (int u = 0; u < wordCount; u += wordsPerUnit) {
                boolean any = false;
                for (int w = u; w < u + wordsPerUnit && w < wordCount; w++) any |= words[w] != 0;
                if (any) for (int w = u; w < u + wordsPerUnit && w < wordCount; w++) words[w] = -1L;
            }
            return;
        }
        long unitBits = (1L << linesPerUnit) - 1;
        for (int w = 0; w < wordCount; w++) {
            long in = words[w];
            if (in == 0) continue;
            long out = 0;
            for (int shift = 0; shift < 64; shift += linesPerUnit) {
                if ((in & (unitBits << shift)) != 0) out |= unitBits << shift;
            }
            words[w] = out;
        }
    }

    public static int countLines(long[] words, int wordCount) {
        int n = 0;
        for (int w = 0; w < wordCount; w++) n += Long.bitCount(words[w]);
        return n;
    }

    /** The first set bit at or after {@code from}, or -1. */
    public static int nextSet(long[] words, int wordCount, int from) {
        int w = from >>> 6;
        if (w >= wordCount) return -1;
        long word = words[w] & (-1L << (from & 63));
        while (true) {
            if (word != 0) return w * 64 + Long.numberOfTrailingZeros(word);
            if (++w == wordCount) return -1;
            word = words[w];
        }
    }

    /** The first clear bit at or after {@code from}; {@code wordCount * 64} if none. */
    public static int nextClear(long[] words, int wordCount, int from) {
        int w = from >>> 6;
        if (w >= wordCount) return wordCount * 64;
        long word = ~words[w] & (-1L << (from & 63));
        while (true) {
            if (word != 0) return w * 64 + Long.numberOfTrailingZeros(word);
            if (++w == wordCount) return wordCount * 64;
            word = ~words[w];
        }
    }

    /**
     * Coalesces the dirty lines of {@code lines} lines into runs of consecutive lines; writes each
     * run's first line and line count, returns the number of runs.
     */
    public static int runs(long[] words, int lines, int[] runStart, int[] runLength) {
        int wordCount = (lines + 63) >>> 6;
        int n = 0;
        int at = nextSet(words, wordCount, 0);
        while (at >= 0 && at < lines) {
            int end = Math.min(lines, nextClear(words, wordCount, at));
            runStart[n] = at;
            runLength[n] = end - at;
            n++;
            at = end >= lines ? -1 : nextSet(words, wordCount, end);
        }
        return n;
    }
}
