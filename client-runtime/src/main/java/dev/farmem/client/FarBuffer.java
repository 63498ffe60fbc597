package dev.farmem.client;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.cache.Translation;
import dev.farmem.client.engine.BlockCache;
import dev.farmem.client.engine.ThreadLocalCounter;
import dev.farmem.transport.Transport;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A window of far memory, indexed from 0, read and written through the local cache.
 * Little-endian. Thread-safe like plain memory: concurrent writes to the same bytes race.
 *
 * <p>Reads that hit are optimistic and lock-free, with the region's
 * {@link CacheRegion#tryOptimisticRead(long, Translation) tryOptimisticRead} and
 * {@link CacheRegion#validate(long, long, Translation) validate} through the thread's
 * translation entry: translate the block (a compare when the thread's last access was to the
 * same block), read, and check that the frame still holds the block. Writes pin the frame,
 * store, then set the lines' dirty bits.
 */
public final class FarBuffer {

    private final BlockCache engine;
    private final CacheRegion region;
    /** Hands out each thread's translation entry, which also counts its hits (one lookup per access). */
    private final ThreadLocalCounter hits;
    private final long base;
    private final long length;
    private final long claimSize;
    private final int blockShift;
    private final int blockMask;
    private final int blockSize;

    FarBuffer(BlockCache engine, long base, long length, long claimSize) {
        this.engine = engine;
        this.region = engine.region();
        this.hits = engine.hits();
        this.base = base;
        this.length = length;
        this.claimSize = claimSize;
        this.blockShift = region.blockShift();
        this.blockSize = region.blockSize();
        this.blockMask = blockSize - 1;
    }

    /** Bytes in this buffer. */
    public long size() {
        return length;
    }

    /** A sub-window {@code [index, index + length)} of this buffer. */
    public FarBuffer slice(long index, long length) {
        long at = address(index, length);
        return new FarBuffer(engine, at, length, claimSize);
    }

    private long address(long index, long len) {
        engine.ensureOpen();
        if (index < 0 || len < 0 || index > length - len) {
            throw new IndexOutOfBoundsException("far address " + (base + index) + " (index " + index + ", " + len
                    + " bytes) is outside this buffer of " + length + " bytes at far address " + base
                    + " (claim size " + claimSize + " bytes)");
        }
        return base + index;
    }

    // ---- reads -------------------------------------------------------------------------

    public long getLong(long index) {
        long addr = address(index, 8);
        int off = (int) addr & blockMask;
        if (off > blockSize - 8) return getAcrossBlocks(addr, 8);
        long block = addr >>> blockShift;
        Translation t = hits.mine();
        long stamp = region.tryOptimisticRead(block, t);
        if (stamp >= 0) {
            long x = region.getLong(region.stampFrame(stamp), off);
            if (region.validate(block, stamp, t)) {
                hit(stamp, t);
                return x;
            }
        }
        int p = engine.pin(block);
        try {
            return region.getLong(p, off);
        } finally {
            engine.unpin(p);
        }
    }

    public int getInt(long index) {
        long addr = address(index, 4);
        int off = (int) addr & blockMask;
        if (off > blockSize - 4) return (int) getAcrossBlocks(addr, 4);
        long block = addr >>> blockShift;
        Translation t = hits.mine();
        long stamp = region.tryOptimisticRead(block, t);
        if (stamp >= 0) {
            int x = region.getInt(region.stampFrame(stamp), off);
            if (region.validate(block, stamp, t)) {
                hit(stamp, t);
                return x;
            }
        }
        int p = engine.pin(block);
        try {
            return region.getInt(p, off);
        } finally {
            engine.unpin(p);
        }
    }

    public byte getByte(long index) {
        return (byte) getInBlock(address(index, 1), 1);
    }

    /** Copies {@code len} bytes from {@code index} into {@code dst[off..]}. */
    public void get(long index, byte[] dst, int off, int len) {
        Objects.checkFromIndexSize(off, len, dst.length);
        read(address(index, len), dst, off, len);
    }

    public void get(long index, byte[] dst) {
        get(index, dst, 0, dst.length);
    }

    /** Fills {@code dst} from its position to its limit with the bytes at {@code index}; advances its position. */
    public void get(long index, ByteBuffer dst) {
        long addr = address(index, dst.remaining());
        while (dst.hasRemaining()) {
            int off = (int) addr & blockMask;
            int n = Math.min(dst.remaining(), blockSize - off);
            int p = engine.pin(addr >>> blockShift);
            try {
                region.getBytes(p, off, dst, n);
            } finally {
                engine.unpin(p);
            }
            addr += n;
        }
    }

    // ---- batches: many misses in flight from one thread ----------------------------------

    /** Distinct missing blocks a batch puts in flight at once; a larger batch goes in waves of this many. */
    static final int BATCH_WAVE = 64;

    /**
     * Reads the 8-byte little-endian values at {@code indices[i]} into {@code out[i]}, as
     * {@link #getLong} would one by one, but with the batch's misses in flight together: hits
     * are read at once, then the misses of all distinct blocks are started (up to
     * {@value #BATCH_WAVE} at a time) before any is waited for. Every index is checked before
     * anything is read: one outside the buffer throws {@link IndexOutOfBoundsException} and
     * leaves {@code out} and the cache untouched. Values are read as of slightly different
     * moments, as separate {@code getLong}s would be. In sidecar mode the misses are served one
     * after another (one request slot per thread).
     */
    public void getLongs(long[] indices, long[] out) {
        getLongs(indices, 0, out);
    }

    /** {@link #getLongs(long[], long[])} at byte index {@code indices[i] << scale} (3 for arrays of longs). */
    void getLongs(long[] indices, int scale, long[] out) {
        engine.ensureOpen();
        int n = indices.length;
        if (out.length < n) {
            throw new IllegalArgumentException("out holds " + out.length + " longs, fewer than the " + n + " indices of the batch");
        }
        long last = length < 8 ? -1 : (length - 8) >> scale;
        for (int i = 0; i < n; i++) {
            long x = indices[i];
            if (x < 0 || x > last) {
                throw new IndexOutOfBoundsException("index " + x + " (entry " + i + " of the batch) is outside this buffer of "
                        + length + " bytes at far address " + base + " (claim size " + claimSize + " bytes): nothing was read");
            }
        }
        Translation t = hits.mine();
        long[] blocks = new long[Math.min(n, BATCH_WAVE)];
        int[] head = new int[blocks.length];
        int[] next = new int[n];
        int i = 0;
        while (i < n) {
            int wave = 0;
            for (; i < n; i++) {
                long addr = base + (indices[i] << scale);
                int off = (int) addr & blockMask;
                if (off > blockSize - 8) { // only in a buffer that is not 8-byte aligned
                    out[i] = getAcrossBlocks(addr, 8);
                    continue;
                }
                long block = addr >>> blockShift;
                long stamp = region.tryOptimisticRead(block, t);
                if (stamp >= 0) {
                    long x = region.getLong(region.stampFrame(stamp), off);
                    if (region.validate(block, stamp, t)) {
                        hit(stamp, t);
                        out[i] = x;
                        continue;
                    }
                }
                int k = 0;
                while (k < wave && blocks[k] != block) k++;
                if (k == wave) {
                    if (wave == blocks.length) break; // this index starts the next wave
                    blocks[wave++] = block;
                    head[k] = -1;
                } else {
                    t.countHit(); // as a second getLong of a block just fetched would
                }
                next[i] = head[k];
                head[k] = i;
            }
            if (wave > 0) fetchWave(indices, scale, out, blocks, head, next, wave);
        }
    }

    /**
     * Starts the misses of {@code blocks[0..wave)}, then waits for all of them. Each completion
     * copies its block's values into {@code out} and unpins at once, on whichever thread completed
     * it, so a batch holds no frame while it waits. Misses the engine cannot start without
     * waiting are served on this thread once all the others are out. The wave's requests leave
     * together once all are started, one write per memory node ({@link BlockCache#gather}).
     */
    private void fetchWave(long[] indices, int scale, long[] out, long[] blocks, int[] head, int[] next, int wave) {
        List<Runnable> mustWait = new ArrayList<>();
        CompletableFuture<?>[] done = new CompletableFuture<?>[wave];
        try (Transport.Gather gathered = engine.gather()) {
            startWave(indices, scale, out, blocks, head, next, wave, mustWait, done);
        }
        for (Runnable r : mustWait) r.run(); // completes its future; failures land there
        CompletableFuture<Void> all = CompletableFuture.allOf(done);
        BlockCache.spinForMiss(all);
        all.handle((ok, err) -> null).join(); // parks once for the whole wave, not once per miss
        RuntimeException failure = null;
        for (CompletableFuture<?> d : done) {
            try {
                d.join(); // done: returns at once
            } catch (CompletionException e) {
                if (failure == null) failure = e.getCause() instanceof RuntimeException r ? r : e;
            }
        }
        if (failure != null) throw failure;
    }

    /** Starts the wave's misses (those that would have to wait go to {@code mustWait}), with no wait. */
    private void startWave(long[] indices, int scale, long[] out, long[] blocks, int[] head, int[] next, int wave,
                           List<Runnable> mustWait, CompletableFuture<?>[] done) {
        for (int k = 0; k < wave; k++) {
            int first = head[k];
            try {
                done[k] = engine.pinAsync(blocks[k], mustWait::add).thenAccept(frame -> {
                    try {
                        for (int j = first; j >= 0; j = next[j]) {
                            out[j] = region.getLong(frame, (int) (base + (indices[j] << scale)) & blockMask);
                        }
                    } finally {
                        engine.unpin(frame);
                    }
                });
            } catch (RuntimeException e) {
                done[k] = CompletableFuture.failedFuture(e);
            }
        }
    }

    /**
     * Starts fetching the blocks of {@code [index, index + length)} that are not cached, and
     * returns without waiting: a later read of them hits, or waits only for the rest of its
     * fetch. A hint: a block that cannot be fetched without waiting (no clean frame free) or whose
     * fetch fails is skipped, and at most half the cache is prefetched by one call (more would
     * evict its own blocks). Prefetched blocks count as misses when fetched, not when read. In
     * sidecar mode the blocks are fetched before it returns.
     */
    public void prefetch(long index, long length) {
        long addr = address(index, length);
        if (length == 0) return;
        long first = addr >>> blockShift;
        long last = (addr + length - 1) >>> blockShift;
        long max = Math.max(1, region.frameCount() / 2);
        try (Transport.Gather gathered = engine.gather()) { // the requests leave together, one write per memory node
            for (long b = first; b <= last && b - first < max; b++) {
                if (region.lookup(b) >= 0) continue;
                engine.pinAsync(b, mustWait -> { }).thenAccept(engine::unpin);
            }
        }
    }

    /**
     * A little-endian value of {@code width} bytes that straddles two blocks (only in a buffer not
     * aligned to the width), assembled with shifts from the bytes in each block: no array.
     */
    private long getAcrossBlocks(long addr, int width) {
        int first = blockSize - ((int) addr & blockMask);
        return getInBlock(addr, first) | getInBlock(addr + first, width - first) << (8 * first);
    }

    /** The {@code n} (1..8) bytes at {@code addr}, all in one block, little-endian in the low bits. */
    private long getInBlock(long addr, int n) {
        int off = (int) addr & blockMask;
        long block = addr >>> blockShift;
        Translation t = hits.mine();
        long stamp = region.tryOptimisticRead(block, t);
        if (stamp >= 0) {
            long x = region.getLittleEndian(region.stampFrame(stamp), off, n);
            if (region.validate(block, stamp, t)) {
                hit(stamp, t);
                return x;
            }
        }
        int p = engine.pin(block);
        try {
            return region.getLittleEndian(p, off, n);
        } finally {
            engine.unpin(p);
        }
    }

    private void read(long addr, byte[] dst, int off, int len) {
        while (len > 0) {
            int at = (int) addr & blockMask;
            int n = Math.min(len, blockSize - at);
            long block = addr >>> blockShift;
            if (!readOptimistic(block, at, dst, off, n)) {
                int p = engine.pin(block);
                try {
                    region.getBytes(p, at, dst, off, n);
                } finally {
                    engine.unpin(p);
                }
            }
            addr += n;
            off += n;
            len -= n;
        }
    }

    private boolean readOptimistic(long block, int at, byte[] dst, int off, int n) {
        Translation t = hits.mine();
        long stamp = region.tryOptimisticRead(block, t);
        if (stamp < 0) return false;
        region.getBytes(region.stampFrame(stamp), at, dst, off, n);
        if (!region.validate(block, stamp, t)) return false;
        hit(stamp, t);
        return true;
    }

    /** A validated optimistic read: the frame was used (CLOCK), and it counts as a hit of this thread. */
    private void hit(long stamp, Translation t) {
        region.touch(region.stampFrame(stamp));
        t.countHit();
    }

    // ---- writes ------------------------------------------------------------------------

    public void putLong(long index, long value) {
        long addr = address(index, 8);
        int off = (int) addr & blockMask;
        if (off > blockSize - 8) {
            putAcrossBlocks(addr, 8, value);
            return;
        }
        int p = engine.pin(addr >>> blockShift);
        try {
            region.putLong(p, off, value);
            engine.markDirty(p, off, 8);
        } finally {
            engine.unpin(p);
        }
    }

    public void putInt(long index, int value) {
        long addr = address(index, 4);
        int off = (int) addr & blockMask;
        if (off > blockSize - 4) {
            putAcrossBlocks(addr, 4, value);
            return;
        }
        int p = engine.pin(addr >>> blockShift);
        try {
            region.putInt(p, off, value);
            engine.markDirty(p, off, 4);
        } finally {
            engine.unpin(p);
        }
    }

    public void putByte(long index, byte value) {
        putInBlock(address(index, 1), 1, value);
    }

    /** Writes the low {@code width} bytes of {@code value} little-endian across a block boundary, split with shifts. */
    private void putAcrossBlocks(long addr, int width, long value) {
        int first = blockSize - ((int) addr & blockMask);
        putInBlock(addr, first, value);
        putInBlock(addr + first, width - first, value >>> (8 * first));
    }

    /** Writes the low {@code n} (1..8) bytes of {@code value} little-endian at {@code addr}, all in one block. */
    private void putInBlock(long addr, int n, long value) {
        int off = (int) addr & blockMask;
        int p = engine.pin(addr >>> blockShift);
        try {
            region.putLittleEndian(p, off, n, value);
            engine.markDirty(p, off, n);
        } finally {
            engine.unpin(p);
        }
    }

    /** Copies {@code src[off..off+len)} to {@code index}. */
    public void put(long index, byte[] src, int off, int len) {
        Objects.checkFromIndexSize(off, len, src.length);
        write(address(index, len), src, off, len);
    }

    public void put(long index, byte[] src) {
        put(index, src, 0, src.length);
    }

    /** Writes the bytes of {@code src} from its position to its limit at {@code index}; advances its position. */
    public void put(long index, ByteBuffer src) {
        long addr = address(index, src.remaining());
        while (src.hasRemaining()) {
            int off = (int) addr & blockMask;
            int n = Math.min(src.remaining(), blockSize - off);
            int p = engine.pin(addr >>> blockShift);
            try {
                region.putBytes(p, off, src, n);
                engine.markDirty(p, off, n);
            } finally {
                engine.unpin(p);
            }
            addr += n;
        }
    }

    private void write(long addr, byte[] src, int off, int len) {
        while (len > 0) {
            int at = (int) addr & blockMask;
            int n = Math.min(len, blockSize - at);
            int p = engine.pin(addr >>> blockShift);
            try {
                region.putBytes(p, at, src, off, n);
                engine.markDirty(p, at, n);
            } finally {
                engine.unpin(p);
            }
            addr += n;
            off += n;
            len -= n;
        }
    }

    /**
     * Copies {@code length} bytes from {@code index} of this buffer to {@code dstIndex} of
     * {@code dst} (which may be this buffer; overlapping ranges copy as if through a temporary).
     */
    public void copyTo(long index, FarBuffer dst, long dstIndex, long length) {
        address(index, length);
        dst.address(dstIndex, length);
        int chunk = blockSize;
        byte[] tmp = new byte[(int) Math.min(chunk, Math.max(1, length))];
        boolean backwards = dst.engine == engine && dst.base + dstIndex > base + index;
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(tmp.length, length - done);
            long at = backwards ? length - done - n : done;
            get(index + at, tmp, 0, n);
            dst.put(dstIndex + at, tmp, 0, n);
            done += n;
        }
    }
}
