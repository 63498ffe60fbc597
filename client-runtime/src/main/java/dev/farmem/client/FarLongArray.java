package dev.farmem.client;

/** An array of longs in far memory, read and written through the local cache. Thread-safe like a {@code long[]}. */
public final class FarLongArray {

    private final FarBuffer buffer;
    private final long length;

    FarLongArray(FarBuffer buffer) {
        this.buffer = buffer;
        this.length = buffer.size() >>> 3;
    }

    /** Number of longs. */
    public long length() {
        return length;
    }

    public long get(long i) {
        return buffer.getLong(check(i) << 3);
    }

    public void set(long i, long value) {
        buffer.putLong(check(i) << 3, value);
    }

    /**
     * {@code out[i] = get(indices[i])} for every entry, with the misses of the batch in flight
     * together (see {@link FarBuffer#getLongs}). An index outside the array throws
     * {@link IndexOutOfBoundsException} before anything is read, and {@code out} is left as it was.
     */
    public void get(long[] indices, long[] out) {
        if (out.length < indices.length) {
            throw new IllegalArgumentException("out holds " + out.length + " longs, fewer than the " + indices.length + " indices of the batch");
        }
        for (int i = 0; i < indices.length; i++) {
            long x = indices[i];
            if (x < 0 || x >= length) {
                throw new IndexOutOfBoundsException("index " + x + " (entry " + i + " of the batch) is outside this array of "
                        + length + " longs: nothing was read");
            }
        }
        buffer.getLongs(indices, 3, out);
    }

    /** Starts fetching the uncached blocks of longs {@code [from, from + count)} and returns at once (see {@link FarBuffer#prefetch}). */
    public void prefetch(long from, long count) {
        if (from < 0 || count < 0 || from > length - count) {
            throw new IndexOutOfBoundsException("longs [" + from + ", " + (from + count) + ") are outside this array of " + length + " longs");
        }
        buffer.prefetch(from << 3, count << 3);
    }

    private long check(long i) {
        if (i < 0 || i >= length) {
            throw new IndexOutOfBoundsException("index " + i + " is outside this array of " + length + " longs");
        }
        return i;
    }
}
