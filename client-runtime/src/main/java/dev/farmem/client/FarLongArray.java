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

    private long check(long i) {
        if (i < 0 || i >= length) {
            throw new IndexOutOfBoundsException("index " + i + " is outside this array of " + length + " longs");
        }
        return i;
    }
}
