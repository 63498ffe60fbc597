package dev.farmem.client;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.engine.BlockCache;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;

/**
 * A window of far memory, indexed from 0, read and written through the local cache.
 * Little-endian. Thread-safe like plain memory: concurrent writes to the same bytes race.
 *
 * <p>Reads that hit are optimistic and lock-free: look the block up, read, and check that the
 * frame still holds the block (its version did not move). Writes pin the frame, store, then
 * set the lines' dirty bits.
 */
public final class FarBuffer {

    private final BlockCache engine;
    private final CacheRegion region;
    private final long base;
    private final long length;
    private final long claimSize;
    private final int blockShift;
    private final int blockMask;
    private final int blockSize;

    FarBuffer(BlockCache engine, long base, long length, long claimSize) {
        this.engine = engine;
        this.region = engine.region();
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
        if (off > blockSize - 8) return getLongAcrossBlocks(addr);
        long block = addr >>> blockShift;
        int f = region.lookup(block);
        if (f >= 0) {
            long v = region.version(f);
            if ((v & 1) == 0 && region.tag(f) == block + 1) {
                long x = region.getLong(f, off);
                VarHandle.loadLoadFence();
                if (region.versionPlain(f) == v) {
                    region.touch(f);
                    engine.countHit();
                    return x;
                }
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
        if (off > blockSize - 4) {
            byte[] b = new byte[4];
            read(addr, b, 0, 4);
            return ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt();
        }
        long block = addr >>> blockShift;
        int f = region.lookup(block);
        if (f >= 0) {
            long v = region.version(f);
            if ((v & 1) == 0 && region.tag(f) == block + 1) {
                int x = region.getInt(f, off);
                VarHandle.loadLoadFence();
                if (region.versionPlain(f) == v) {
                    region.touch(f);
                    engine.countHit();
                    return x;
                }
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
        byte[] b = new byte[1];
        read(address(index, 1), b, 0, 1);
        return b[0];
    }

    /** Copies {@code len} bytes from {@code index} into {@code dst[off..]}. */
    public void get(long index, byte[] dst, int off, int len) {
        java.util.Objects.checkFromIndexSize(off, len, dst.length);
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

    private long getLongAcrossBlocks(long addr) {
        byte[] b = new byte[8];
        read(addr, b, 0, 8);
        return ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
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
        int f = region.lookup(block);
        if (f < 0) return false;
        long v = region.version(f);
        if ((v & 1) != 0 || region.tag(f) != block + 1) return false;
        region.getBytes(f, at, dst, off, n);
        VarHandle.loadLoadFence();
        if (region.versionPlain(f) != v) return false;
        region.touch(f);
        engine.countHit();
        return true;
    }

    // ---- writes ------------------------------------------------------------------------

    public void putLong(long index, long value) {
        long addr = address(index, 8);
        int off = (int) addr & blockMask;
        if (off > blockSize - 8) {
            byte[] b = new byte[8];
            ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(value);
            write(addr, b, 0, 8);
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
            byte[] b = new byte[4];
            ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(value);
            write(addr, b, 0, 4);
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
        write(address(index, 1), new byte[] {value}, 0, 1);
    }

    /** Copies {@code src[off..off+len)} to {@code index}. */
    public void put(long index, byte[] src, int off, int len) {
        java.util.Objects.checkFromIndexSize(off, len, src.length);
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
