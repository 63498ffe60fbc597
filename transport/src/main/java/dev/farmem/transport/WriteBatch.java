package dev.farmem.transport;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * A scatter list for one WRITEV: segments of (remote offset in the slab, length, source bytes).
 * Reusable: {@link #clear()} and fill again, so the write-back path allocates nothing per block.
 * Not thread-safe; one batch belongs to one writer at a time.
 */
public final class WriteBatch {

    private long[] offsets;
    private int[] lengths;
    private ByteBuffer[] sources;
    private int[] sourceIndexes;
    private int size;
    private long totalBytes;

    public WriteBatch() {
        this(8);
    }

    public WriteBatch(int initialCapacity) {
        int capacity = Math.max(1, initialCapacity);
        offsets = new long[capacity];
        lengths = new int[capacity];
        sources = new ByteBuffer[capacity];
        sourceIndexes = new int[capacity];
    }

    /**
     * Adds a segment: {@code length} bytes read from {@code source} at absolute index
     * {@code sourceIndex} go to {@code remoteOffset} of the slab.
     */
    public WriteBatch add(long remoteOffset, ByteBuffer source, int sourceIndex, int length) {
        if (remoteOffset < 0) throw new IllegalArgumentException("remote offset " + remoteOffset + " is negative");
        if (length <= 0) throw new IllegalArgumentException("segment length " + length + " is not positive");
        if (sourceIndex < 0 || sourceIndex > source.capacity() - length) {
            throw new IndexOutOfBoundsException("source range [" + sourceIndex + ", " + ((long) sourceIndex + length)
                    + ") is outside the source buffer of " + source.capacity() + " bytes");
        }
        if (size == offsets.length) grow();
        offsets[size] = remoteOffset;
        lengths[size] = length;
        sources[size] = source;
        sourceIndexes[size] = sourceIndex;
        size++;
        totalBytes += length;
        return this;
    }

    public int size() {
        return size;
    }

    public boolean isEmpty() {
        return size == 0;
    }

    public long totalBytes() {
        return totalBytes;
    }

    public long remoteOffset(int i) {
        check(i);
        return offsets[i];
    }

    public int length(int i) {
        check(i);
        return lengths[i];
    }

    public ByteBuffer source(int i) {
        check(i);
        return sources[i];
    }

    public int sourceIndex(int i) {
        check(i);
        return sourceIndexes[i];
    }

    /** Forgets every segment (and the references to their source buffers). */
    public void clear() {
        Arrays.fill(sources, 0, size, null);
        size = 0;
        totalBytes = 0;
    }

    private void check(int i) {
        if (i < 0 || i >= size) throw new IndexOutOfBoundsException("segment " + i + " of " + size);
    }

    private void grow() {
        int capacity = offsets.length * 2;
        offsets = Arrays.copyOf(offsets, capacity);
        lengths = Arrays.copyOf(lengths, capacity);
        sources = Arrays.copyOf(sources, capacity);
        sourceIndexes = Arrays.copyOf(sourceIndexes, capacity);
    }
}
