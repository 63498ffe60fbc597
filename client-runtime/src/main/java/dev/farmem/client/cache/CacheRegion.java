package dev.farmem.client.cache;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.lang.reflect.Field;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.LongAdder;
import sun.misc.Unsafe;

/**
 * All the cache state the hit path touches, in one off-heap region that could as well be a
 * mapped file shared with a sidecar: a small header, one header per frame, the CLOCK access
 * bytes, the block table and the frame data. This class is a flyweight: it holds no per-block
 * Java object, only offsets.
 *
 * <p>Frame header ({@link #headerStride()} bytes, a power of two, so a header never straddles
 * two cache lines):
 * <pre>
 *   0  long  tag      block + 1, or 0 when the frame holds nothing
 *   8  long  version  seqlock: odd while the frame's block or data change (load, eviction)
 *  16  int   state    pin count (bits 0..28) | {@link #WRITEBACK} | {@link #EXCLUSIVE}
 *  20  int   (unused)
 *  24  long[maskWords] dirty-line bits, one bit per 64-byte line
 * </pre>
 * The CLOCK access bits are one byte per frame in a dense array after the headers rather than
 * in the header: every hit sets its frame's bit, and a megabyte of access bytes for a 1 GiB
 * cache stays in the CPU's cache where 8 MiB of headers do not.
 *
 * <p>An in-process region may also have a <em>direct table</em> ({@link #allocate(int, int, long)}):
 * one long per block of the claim, 0 or the optimistic-read stamp of the frame that holds the
 * block. A hit then costs one load for the translation and one for the data; the hash table and
 * the frame header stay off the hit path. The hash table remains the authority the engine
 * changes under its lock; the direct table follows it in {@link #beginChange} and
 * {@link #endChange}.
 * Memory ordering: a write stores its data and then sets its dirty bit with a release RMW; a
 * write-back takes the mask with an atomic get-and-clear and then copies the lines.
 */
public final class CacheRegion {

    public static final int LINE = 64;
    public static final int LINE_SHIFT = 6;

    /** The frame is being loaded or evicted by one thread; nobody else may pin it. */
    public static final int EXCLUSIVE = 1 << 30;
    /** A write-back of the frame is in flight (until every replica acknowledged). */
    public static final int WRITEBACK = 1 << 29;
    public static final int PIN_MASK = WRITEBACK - 1;

    /**
     * "FRM2": the region layout's version (2: CLOCK access bytes before the block table). A sidecar never re-attaches to
     * a region file another layout wrote, whose offsets it would misread; bump it whenever the layout changes.
     */
    static final int MAGIC = 0x46524d32;
    static final int REGION_HEADER = 4096; // keeps frame data page-aligned
    private static final int TAG = 0;
    private static final int VERSION = 8;
    private static final int STATE = 16;
    private static final int MASK = 24;

    /** Frame indexes live in the low bits of a table slot, block + 1 in the high bits. */
    static final int FRAME_BITS = 24;
    public static final int MAX_FRAMES = 1 << FRAME_BITS;
    public static final long MAX_BLOCKS = (1L << (64 - FRAME_BITS)) - 2;

    private static final VarHandle LONG = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    /**
     * Plain reads and writes of the hit path go through Unsafe at the region's address, as
     * Agrona's UnsafeBuffer does: a ByteBuffer accessor adds index, session and byte-order
     * checks, and those extra instructions per access let the CPU overlap fewer cache misses
     * of a random-access loop. Indexes are checked here, so a bad one still throws.
     */
    private static final Unsafe U = unsafe();
    private static final boolean NATIVE_LE = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    private final ByteBuffer buf;
    private final int blockSize;
    private final int blockShift;
    private final int frameCount;
    /** Bits of an optimistic-read stamp that name the frame; the version fills the bits above them. */
    private final int stampFrameBits;
    private final int maskWords;
    private final int headerStride;
    private final int headersOffset;
    private final int accessOffset;
    private final int tableOffset;
    private final int tableSlots;
    private final int tableShift;
    private final int dataOffset;
    private final long address;
    /** The direct table (address of {@code directBlocks} longs), or 0 when this region has none. */
    private final long direct;
    private final long directBlocks;
    @SuppressWarnings("unused") // keeps the direct table's memory alive as long as the region
    private final ByteBuffer directTable;
    private volatile FrameGuard guard;

    private CacheRegion(ByteBuffer buf, int blockSize, int frameCount, ByteBuffer directTable) {
        this.buf = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN); // the plain data accessors need little-endian
        this.blockSize = blockSize;
        this.blockShift = Integer.numberOfTrailingZeros(blockSize);
        this.frameCount = frameCount;
        this.stampFrameBits = 32 - Integer.numberOfLeadingZeros(frameCount);
        this.maskWords = Math.max(1, (blockSize / LINE + 63) / 64);
        this.headerStride = Integer.highestOneBit(MASK + 8 * maskWords - 1) << 1;
        this.headersOffset = REGION_HEADER;
        this.accessOffset = headersOffset + headerStride * frameCount;
        this.tableSlots = Integer.highestOneBit(Math.max(2, frameCount) * 2 - 1) << 1;
        this.tableShift = 64 - Integer.numberOfTrailingZeros(tableSlots);
        this.tableOffset = alignUp(accessOffset + frameCount, 64);
        this.dataOffset = alignUp(tableOffset + 8 * tableSlots, 4096);
        if (!this.buf.isDirect()) throw new IllegalArgumentException("a cache region needs a direct (off-heap) buffer");
        this.address = addressOf(this.buf);
        this.directTable = directTable;
        this.direct = directTable == null ? 0 : addressOf(directTable);
        this.directBlocks = directTable == null ? 0 : directTable.capacity() >>> 3;
    }

    /** Bytes a region for {@code frameCount} frames of {@code blockSize} needs. */
    public static long bytesNeeded(int blockSize, int frameCount) {
        long maskWords = Math.max(1, (blockSize / LINE + 63) / 64);
        long stride = Long.highestOneBit(MASK + 8 * maskWords - 1) << 1;
        long slots = Long.highestOneBit(Math.max(2, frameCount) * 2L - 1) << 1;
        long access = alignUp(REGION_HEADER + stride * frameCount + frameCount, 64);
        long data = alignUp(access + 8 * slots, 4096);
        return data + (long) blockSize * frameCount;
    }

    /**
     * Allocates a region off-heap (in-process mode). The whole region must fit one ByteBuffer,
     * which bounds the cache at about 2 GiB in this version.
     */
    public static CacheRegion allocate(int blockSize, int frameCount) {
        return allocate(blockSize, frameCount, 0);
    }

    /**
     * Claims up to this many blocks get a direct table (8 bytes per block: 32 MiB for a 16 GiB
     * claim of 4 KiB blocks, 1/2048 of the claim); larger ones look blocks up in the hash table.
     */
    public static final long DIRECT_TABLE_MAX_BLOCKS = 1L << 22;

    /**
     * Allocates a region off-heap (in-process mode) for a claim of {@code claimBlocks} blocks,
     * with a direct table when the claim has at most {@link #DIRECT_TABLE_MAX_BLOCKS} (0: none).
     * The direct table lives outside the region's buffer: a sidecar's region, shared by
     * processes, has none.
     */
    public static CacheRegion allocate(int blockSize, int frameCount, long claimBlocks) {
        long bytes = checkGeometry(blockSize, frameCount);
        ByteBuffer raw = ByteBuffer.allocateDirect(Math.toIntExact(bytes + 4096));
        ByteBuffer aligned = raw.alignedSlice(4096).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer directTable = claimBlocks > 0 && claimBlocks <= DIRECT_TABLE_MAX_BLOCKS
                ? ByteBuffer.allocateDirect(Math.toIntExact(8 * claimBlocks)) // zeroed: no block is cached
                : null;
        return over(aligned, blockSize, frameCount, directTable);
    }

    /** A region over an existing zeroed, 4096-aligned buffer (for example a mapped file); writes its header. */
    public static CacheRegion over(ByteBuffer buffer, int blockSize, int frameCount) {
        return over(buffer, blockSize, frameCount, null);
    }

    private static CacheRegion over(ByteBuffer buffer, int blockSize, int frameCount, ByteBuffer directTable) {
        long bytes = checkGeometry(blockSize, frameCount);
        if (buffer.capacity() < bytes) {
            throw new IllegalArgumentException("region buffer of " + buffer.capacity() + " bytes is smaller than the " + bytes + " needed");
        }
        CacheRegion r = new CacheRegion(buffer, blockSize, frameCount, directTable);
        INT.set(buffer, 0, MAGIC);
        INT.set(buffer, 4, blockSize);
        INT.set(buffer, 8, frameCount);
        INT.set(buffer, 12, r.headerStride);
        INT.set(buffer, 16, r.tableSlots);
        INT.set(buffer, 20, r.dataOffset);
        return r;
    }

    /** True if {@code buffer} already holds a region of this geometry (a mapped file a sidecar re-attaches to). */
    public static boolean holds(ByteBuffer buffer, int blockSize, int frameCount) {
        return buffer.capacity() >= 24 && (int) INT.get(buffer, 0) == MAGIC && (int) INT.get(buffer, 4) == blockSize
                && (int) INT.get(buffer, 8) == frameCount;
    }

    private static long checkGeometry(int blockSize, int frameCount) {
        if (blockSize < LINE || Integer.bitCount(blockSize) != 1) {
            throw new IllegalArgumentException("block size " + blockSize + " must be a power of two of at least " + LINE);
        }
        if (frameCount < 1 || frameCount > MAX_FRAMES) {
            throw new IllegalArgumentException("frame count " + frameCount + " must be in 1.." + MAX_FRAMES);
        }
        long bytes = bytesNeeded(blockSize, frameCount);
        if (bytes > Integer.MAX_VALUE - 8192) {
            throw new IllegalArgumentException("a cache of " + frameCount + " frames of " + blockSize
                    + " bytes needs " + bytes + " bytes, more than one region holds (2 GiB): choose a smaller cache");
        }
        return bytes;
    }

    private static int alignUp(long v, int a) {
        return Math.toIntExact((v + a - 1) & -a);
    }

    public ByteBuffer buffer() { return buf; }
    public int blockSize() { return blockSize; }
    public int blockShift() { return blockShift; }
    public int frameCount() { return frameCount; }
    public int maskWords() { return maskWords; }
    public int headerStride() { return headerStride; }
    public int linesPerBlock() { return blockSize >>> LINE_SHIFT; }
    /** True if blocks are translated through a direct table (see the class comment). */
    public boolean hasDirectTable() { return direct != 0; }

    // ---- frame data -------------------------------------------------------------------

    /** Absolute index in {@link #buffer()} of byte {@code offset} of frame {@code frame}'s data. */
    public int dataIndex(int frame, int offset) {
        return dataOffset + (frame << blockShift) + offset;
    }

    // Plain data accesses use the buffer's own accessors: in JDK 17 they compile to fewer
    // instructions than a byteBufferViewVarHandle plain get, and the hit path is mostly these.
    public long getLong(int frame, int offset) { return rawLong(dataIndex(checked(frame, offset, 8), offset)); }
    public void putLong(int frame, int offset, long v) { rawPutLong(dataIndex(checked(frame, offset, 8), offset), v); }
    public int getInt(int frame, int offset) { return rawInt(dataIndex(checked(frame, offset, 4), offset)); }
    public void putInt(int frame, int offset, int v) { rawPutInt(dataIndex(checked(frame, offset, 4), offset), v); }

    private int checked(int frame, int offset, int length) {
        if (Integer.compareUnsigned(frame, frameCount) >= 0 || Integer.compareUnsigned(offset, blockSize - length + 1) >= 0) {
            throw new IndexOutOfBoundsException("frame " + frame + " offset " + offset + " length " + length + " is outside the region ("
                    + frameCount + " frames of " + blockSize + " bytes)");
        }
        return frame;
    }

    private long rawLong(int index) {
        long v = U.getLong(address + index);
        return NATIVE_LE ? v : Long.reverseBytes(v);
    }

    private void rawPutLong(int index, long v) {
        U.putLong(address + index, NATIVE_LE ? v : Long.reverseBytes(v));
    }

    private int rawInt(int index) {
        int v = U.getInt(address + index);
        return NATIVE_LE ? v : Integer.reverseBytes(v);
    }

    private void rawPutInt(int index, int v) {
        U.putInt(address + index, NATIVE_LE ? v : Integer.reverseBytes(v));
    }

    private static Unsafe unsafe() {
        try {
            Field f = Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private static long addressOf(ByteBuffer direct) {
        try {
            return U.getLong(direct, U.objectFieldOffset(Buffer.class.getDeclaredField("address")));
        } catch (NoSuchFieldException e) {
            throw new IllegalStateException("this JVM's direct buffers have no address field", e);
        }
    }
    /** The {@code length} (1..8) bytes at {@code offset} of a frame, little-endian, in the low bits of a long. */
    public long getLittleEndian(int frame, int offset, int length) {
        int at = dataIndex(checked(frame, offset, length), offset);
        long v = 0;
        for (int i = 0; i < length; i++) v |= (U.getByte(address + at + i) & 0xFFL) << (8 * i);
        return v;
    }

    /** Stores the low {@code length} (1..8) bytes of {@code value} little-endian at {@code offset} of a frame. */
    public void putLittleEndian(int frame, int offset, int length, long value) {
        int at = dataIndex(checked(frame, offset, length), offset);
        for (int i = 0; i < length; i++) U.putByte(address + at + i, (byte) (value >>> (8 * i)));
    }

    public byte getByte(int frame, int offset) { return buf.get(dataIndex(frame, offset)); }
    public void putByte(int frame, int offset, byte v) { buf.put(dataIndex(frame, offset), v); }
    public void getBytes(int frame, int offset, byte[] dst, int dstOff, int len) { buf.get(dataIndex(frame, offset), dst, dstOff, len); }
    public void putBytes(int frame, int offset, byte[] src, int srcOff, int len) { buf.put(dataIndex(frame, offset), src, srcOff, len); }
    public void getBytes(int frame, int offset, ByteBuffer dst, int len) { dst.put(dst.position(), buf, dataIndex(frame, offset), len); dst.position(dst.position() + len); }
    public void putBytes(int frame, int offset, ByteBuffer src, int len) { buf.put(dataIndex(frame, offset), src, src.position(), len); src.position(src.position() + len); }

    /** A view of one frame's data, for the transport to fill. */
    public ByteBuffer frameSlice(int frame) {
        return buf.slice(dataIndex(frame, 0), blockSize);
    }

    // ---- frame header -----------------------------------------------------------------

    private int header(int frame) {
        if (Integer.compareUnsigned(frame, frameCount) >= 0) {
            throw new IndexOutOfBoundsException("frame " + frame + " is outside the region of " + frameCount + " frames");
        }
        return headersOffset + frame * headerStride;
    }

    /** block + 1 of the frame, 0 if empty. */
    public long tag(int frame) {
        long t = rawLong(header(frame) + TAG);
        VarHandle.acquireFence(); // a plain read plus an acquire fence is getAcquire, with fewer checks
        return t;
    }
    public void setTag(int frame, long tag) { LONG.setRelease(buf, header(frame) + TAG, tag); }

    public long version(int frame) {
        long v = rawLong(header(frame) + VERSION);
        VarHandle.acquireFence();
        return v;
    }

    public long versionPlain(int frame) { return rawLong(header(frame) + VERSION); }

    /**
     * Starts an optimistic read of {@code block}, as {@link java.util.concurrent.locks.StampedLock#tryOptimisticRead}
     * does: a stamp (never negative) naming the frame that holds the block and the frame's version, or -1 when the
     * block is not cached or is being changed. Read the data from {@link #stampFrame}, then {@link #validate}: only
     * what was read before a successful validate may be used. The version keeps at least 33 bits of the stamp, so a
     * stamp is fooled only by 2^32 changes of one frame during one read.
     */
    public long tryOptimisticRead(long block) {
        if (direct != 0) {
            if (Long.compareUnsigned(block, directBlocks) >= 0) return -1;
            long s = U.getLong(direct + (block << 3));
            VarHandle.acquireFence();
            return s != 0 ? s : -1;
        }
        int f = lookup(block);
        if (f < 0) return -1;
        long v = version(f);
        if ((v & 1) != 0 || tag(f) != block + 1) return -1;
        return stampOf(f, v);
    }

    /**
     * {@link #tryOptimisticRead(long)} through a thread's translation entry: the entry's stamp
     * when it translates {@code block} (a compare, no table), else the region's, remembered in the
     * entry. Validate with {@link #validate(long, long, Translation)}, which forgets a stale entry.
     */
    public long tryOptimisticRead(long block, Translation entry) {
        if (entry.block == block) return entry.stamp;
        long s = tryOptimisticRead(block);
        if (s >= 0) {
            entry.block = block;
            entry.stamp = s;
        }
        return s;
    }

    /**
     * {@link #validate(long, long)} for a stamp {@link #tryOptimisticRead(long, Translation)}
     * gave; when it fails the entry is forgotten, so the next access translates the block again
     * instead of failing on the same stale stamp.
     */
    public boolean validate(long block, long stamp, Translation entry) {
        if (validate(block, stamp)) return true;
        entry.forget();
        return false;
    }

    /** The frame a stamp of {@link #tryOptimisticRead} names. */
    public int stampFrame(long stamp) { return (int) (stamp & ((1L << stampFrameBits) - 1)); }

    /** True when the frame a stamp names did not change since the stamp was taken (the reads before this call hold). */
    public boolean validate(long stamp) {
        VarHandle.loadLoadFence();
        long v = versionPlain(stampFrame(stamp));
        return ((v << stampFrameBits) & Long.MAX_VALUE) == (stamp & ~((1L << stampFrameBits) - 1));
    }

    /**
     * {@link #validate(long)} for a stamp {@link #tryOptimisticRead} gave for {@code block}. With a
     * direct table it checks the block's entry, which the read loaded a moment ago, instead of the
     * frame header, which it did not: one cache miss fewer. The entry is the same stamp exactly
     * while the frame holds the block: it is cleared before the frame starts changing and set,
     * with the frame's new version, after it stops, and a version never repeats.
     */
    public boolean validate(long block, long stamp) {
        if (direct == 0) return validate(stamp);
        VarHandle.loadLoadFence();
        return U.getLong(direct + (block << 3)) == stamp;
    }

    private long stampOf(int frame, long version) {
        return ((version << stampFrameBits) & Long.MAX_VALUE) | frame;
    }

    /**
     * Makes the version odd: optimistic readers of this frame will retry. Clears the direct-table
     * entry of the block the frame held first; the CAS is a full fence, so data changes come after both.
     */
    public void beginChange(int frame) {
        int at = header(frame) + VERSION;
        long tag = tag(frame);
        if (direct != 0 && tag != 0 && tag <= directBlocks) U.putLongVolatile(null, direct + ((tag - 1) << 3), 0L);
        long v = (long) LONG.getVolatile(buf, at);
        if ((v & 1) != 0 || !LONG.compareAndSet(buf, at, v, v + 1)) {
            throw new IllegalStateException("frame " + frame + " is already changing");
        }
    }

    /**
     * Makes the version even again once the frame's data and tag are final (release), then
     * publishes the frame in the direct table under the block of its tag (release).
     */
    public void endChange(int frame) {
        int at = header(frame) + VERSION;
        long v = (long) LONG.get(buf, at) + 1;
        LONG.setRelease(buf, at, v);
        long tag = tag(frame);
        if (direct != 0 && tag != 0 && tag <= directBlocks) U.putOrderedLong(null, direct + ((tag - 1) << 3), stampOf(frame, v));
    }

    public int state(int frame) { return (int) INT.getVolatile(buf, header(frame) + STATE); }
    public boolean casState(int frame, int expect, int update) { return INT.compareAndSet(buf, header(frame) + STATE, expect, update); }
    public void setState(int frame, int v) { INT.setVolatile(buf, header(frame) + STATE, v); }

    /** Adds one pin unless the frame is exclusively held; true if pinned. */
    public boolean tryPin(int frame) {
        int at = header(frame) + STATE;
        for (;;) {
            int s = (int) INT.getVolatile(buf, at);
            if ((s & EXCLUSIVE) != 0) return false;
            if (INT.compareAndSet(buf, at, s, s + 1)) return true;
        }
    }

    public void unpin(int frame) {
        INT.getAndAdd(buf, header(frame) + STATE, -1);
    }

    /** Takes the write-back flag unless another write-back is in flight or the frame is exclusively held. */
    public boolean tryBeginWriteBack(int frame) {
        int at = header(frame) + STATE;
        for (;;) {
            int s = (int) INT.getVolatile(buf, at);
            if ((s & (EXCLUSIVE | WRITEBACK)) != 0) return false;
            if (INT.compareAndSet(buf, at, s, s | WRITEBACK)) return true;
        }
    }

    public void endWriteBack(int frame) {
        INT.getAndBitwiseAnd(buf, header(frame) + STATE, ~WRITEBACK);
    }

    /** Claims a frame for eviction or loading: only when nobody pins it, no write-back is in flight and no guard objects. */
    public boolean tryExclusive(int frame) {
        if (!INT.compareAndSet(buf, header(frame) + STATE, 0, EXCLUSIVE)) return false;
        FrameGuard g = guard; // the CAS above is a full fence: a use published before it is seen here
        if (g != null && g.inUse(frame)) {
            INT.setVolatile(buf, header(frame) + STATE, 0);
            return false;
        }
        return true;
    }

    /**
     * Frames in use by threads the pin count does not see: application processes of a sidecar
     * publish the frames they use (hazards) so a crashed process cannot leave a pin behind.
     */
    public interface FrameGuard {
        /** True if some thread uses {@code frame}; called after the frame was made {@link #EXCLUSIVE}. */
        boolean inUse(int frame);
    }

    /** Installs the guard that eviction and loading consult (sidecar mode); null for none. */
    public void guard(FrameGuard guard) {
        this.guard = guard;
    }

    private int access(int frame) {
        if (Integer.compareUnsigned(frame, frameCount) >= 0) {
            throw new IndexOutOfBoundsException("frame " + frame + " is outside the region of " + frameCount + " frames");
        }
        return accessOffset + frame;
    }

    public boolean accessed(int frame) { return U.getByte(address + access(frame)) != 0; }
    public void clearAccess(int frame) { U.putByte(address + access(frame), (byte) 0); }

    /** Sets the access bit; reads first so a hot frame's access byte is not written on every hit. */
    public void touch(int frame) {
        long at = address + access(frame);
        if (U.getByte(at) == 0) U.putByte(at, (byte) 1);
    }

    public long maskWord(int frame, int word) { return (long) LONG.getVolatile(buf, header(frame) + MASK + 8 * word); }

    /** True if any dirty bit of the frame is set. */
    public boolean isDirty(int frame) {
        int at = header(frame) + MASK;
        for (int w = 0; w < maskWords; w++) if ((long) LONG.getVolatile(buf, at + 8 * w) != 0) return true;
        return false;
    }

    /** Sets dirty bits after the data was written (release); returns the word as it was before. */
    public long orMask(int frame, int word, long bits) {
        return (long) LONG.getAndBitwiseOrRelease(buf, header(frame) + MASK + 8 * word, bits);
    }

    /**
     * Marks bytes {@code [offset, offset + length)} of a frame dirty, after the data was written
     * (release); counts the lines that became dirty and the mask words that stopped being clean.
     */
    public void markDirty(int frame, int offset, int length, LongAdder dirtyLines, LongAdder dirtyWords) {
        int from = offset >>> LINE_SHIFT;
        int to = ((offset + length - 1) >>> LINE_SHIFT) + 1;
        for (int w = from >>> 6; w <= (to - 1) >>> 6; w++) {
            long bits = DirtyLineMask.bitsInWord(w, from, to);
            long old = orMask(frame, w, bits);
            long fresh = bits & ~old;
            if (fresh != 0) {
                dirtyLines.add(Long.bitCount(fresh));
                if (old == 0) dirtyWords.increment();
            }
        }
    }

    /** Takes and clears one word of the mask (acquire), before the write-back copies the lines. */
    public long takeMask(int frame, int word) {
        return (long) LONG.getAndSetAcquire(buf, header(frame) + MASK + 8 * word, 0L);
    }

    // ---- block table: open addressing, linear probing, slots = block+1 << 24 | frame -------

    public int tableSlots() { return tableSlots; }

    private int home(long block) {
        return (int) (((block + 1) * 0x9E3779B97F4A7C15L) >>> tableShift);
    }

    private int slotIndex(int slot) {
        return tableOffset + 8 * slot;
    }

    /**
     * The frame that holds {@code block} as far as a lock-free look can tell, or -1: from the
     * direct table when the region has one (only blocks whose load finished), else from the hash
     * table. Pin the frame and check its tag before using it.
     */
    public int cachedFrame(long block) {
        if (direct == 0) return lookup(block);
        long s = tryOptimisticRead(block);
        return s < 0 ? -1 : stampFrame(s);
    }

    /**
     * The frame the table maps {@code block} to, or -1. Lock-free: may miss an entry that a
     * concurrent removal is moving, and the frame must be validated against its tag.
     */
    public int lookup(long block) {
        long key = block + 1;
        int mask = tableSlots - 1;
        int i = home(block);
        for (int probes = 0; probes < tableSlots; probes++) {
            long s = rawLong(slotIndex(i));
            VarHandle.acquireFence();
            if (s == 0) return -1;
            if ((s >>> FRAME_BITS) == key) {
                int frame = (int) (s & (MAX_FRAMES - 1));
                return frame < frameCount ? frame : -1;
            }
            i = (i + 1) & mask;
        }
        return -1;
    }

    /** Maps {@code block} to {@code frame}. Callers serialize table changes (one lock). */
    public void insert(long block, int frame) {
        if (block < 0 || block > MAX_BLOCKS) throw new IllegalArgumentException("block " + block + " is out of the table's range");
        int mask = tableSlots - 1;
        int i = home(block);
        for (int probes = 0; probes < tableSlots; probes++) {
            long s = (long) LONG.get(buf, slotIndex(i));
            if (s == 0 || (s >>> FRAME_BITS) == block + 1) {
                LONG.setRelease(buf, slotIndex(i), ((block + 1) << FRAME_BITS) | frame);
                return;
            }
            i = (i + 1) & mask;
        }
        throw new IllegalStateException("block table is full: " + tableSlots + " slots");
    }

    /**
     * Empties the table and maps every frame that holds a block again: a sidecar that restarts
     * over a region whose previous owner died in the middle of a table change rebuilds it this way.
     */
    public void rebuildTable() {
        for (int i = 0; i < tableSlots; i++) LONG.setRelease(buf, slotIndex(i), 0L);
        for (int f = 0; f < frameCount; f++) {
            long tag = tag(f);
            if (tag != 0) insert(tag - 1, f);
        }
    }

    /** Removes {@code block}; shifts later entries of the probe chain back so no tombstone is left. */
    public boolean remove(long block) {
        int mask = tableSlots - 1;
        int i = home(block);
        for (int probes = 0; ; probes++) {
            long s = (long) LONG.get(buf, slotIndex(i));
            if (s == 0 || probes == tableSlots) return false;
            if ((s >>> FRAME_BITS) == block + 1) break;
            i = (i + 1) & mask;
        }
        int j = i;
        for (;;) {
            j = (j + 1) & mask;
            long s = (long) LONG.get(buf, slotIndex(j));
            if (s == 0) break;
            int k = home((s >>> FRAME_BITS) - 1);
            boolean stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
            if (stays) continue;
            LONG.setRelease(buf, slotIndex(i), s);
            i = j;
        }
        LONG.setRelease(buf, slotIndex(i), 0L);
        return true;
    }
}
