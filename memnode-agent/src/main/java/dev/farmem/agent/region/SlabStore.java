package dev.farmem.agent.region;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.SlabRange;
import io.netty.util.internal.PlatformDependent;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;
import java.util.concurrent.locks.StampedLock;

/**
 * A memory node's region, off-heap, split into slabs, with each slab's owner: the claim uid and
 * attach epoch that last attached to it.
 *
 * <p>Ownership and fencing: {@link #attach} is called when a client presents a token. A slab
 * whose owner is another claim uid (or nobody) is zeroed and given to the token's claim, but only
 * if the token's epoch is newer than the slab's; a token older than the slab's epoch is
 * {@code FENCED}. Every later request checks that the slab is still owned by exactly the token's
 * uid and epoch, so a runtime fenced by a newer attach is refused at its next request.
 *
 * <p>Reads and writes hold the slab's lock shared while they check ownership and copy; a takeover
 * holds it exclusively while it zeroes, so no write of the old owner lands after the zeroing and
 * no read of the old owner sees the new owner's bytes. Zeroing runs
 * on the connecting client's I/O thread at HELLO (about 10 ms per 64 MiB slab), once per new owner.
 *
 * <p>READs copy the bytes into the response while they run; a read racing a write to the same
 * bytes may see either, as with RDMA. They are not sent as slices of the region: a response may
 * wait in an outbound buffer, and by then another claim may own the slab.
 */
public final class SlabStore {

    public static final long MAX_SLAB_SIZE = 1L << 30;
    public static final long MIN_SLAB_SIZE = 4096;

    private final long slabSize;
    private final ByteBuffer[] slabs;
    private final Slab[] state;
    private final AtomicInteger owned = new AtomicInteger();
    private volatile IntConsumer onTakeover = slab -> {};

    private record Owner(String claimUid, long epoch) {}

    private static final class Slab {
        final StampedLock lock = new StampedLock();
        volatile Owner owner;
        /** Non-null while the slab is a replica being filled by a copy (see {@link JoiningSlab}); null once complete. */
        volatile JoiningSlab joining;
    }

    private SlabStore(long slabSize, ByteBuffer[] slabs) {
        this.slabSize = slabSize;
        this.slabs = slabs;
        this.state = new Slab[slabs.length];
        for (int i = 0; i < slabs.length; i++) state[i] = new Slab();
    }

    /**
     * Allocates {@code capacity} bytes off-heap, or maps them from {@code backingFile} (for example
     * a file on a hugetlbfs mount) when it is not null. Throws {@link IllegalArgumentException}
     * for bad sizes and {@link IllegalStateException} saying how much was asked when the memory
     * cannot be had.
     */
    public static SlabStore allocate(long capacity, long slabSize, Path backingFile) {
        if (slabSize < MIN_SLAB_SIZE || slabSize > MAX_SLAB_SIZE || slabSize % MIN_SLAB_SIZE != 0) {
            throw new IllegalArgumentException("slab size " + slabSize + " must be a multiple of 4KiB between 4KiB and 1GiB");
        }
        if (capacity < slabSize || capacity % slabSize != 0) {
            throw new IllegalArgumentException("capacity " + capacity + " must be a positive multiple of the slab size " + slabSize);
        }
        long count = capacity / slabSize;
        if (count > Integer.MAX_VALUE) throw new IllegalArgumentException("capacity / slab size gives more than 2^31 slabs: use larger slabs");
        ByteBuffer[] slabs = new ByteBuffer[(int) count];
        if (backingFile == null) {
            long limit = PlatformDependent.estimateMaxDirectMemory();
            if (capacity > limit) {
                throw new IllegalStateException("cannot allocate " + capacity + " bytes of off-heap memory: the JVM allows " + limit
                        + " bytes of direct memory. Start it with FARMEM_JAVA_OPTS=-XX:MaxDirectMemorySize=" + ((capacity >> 20) + 256)
                        + "m (the region plus network buffers), or lower --capacity");
            }
            try {
                for (int i = 0; i < slabs.length; i++) slabs[i] = ByteBuffer.allocateDirect((int) slabSize);
            } catch (OutOfMemoryError e) {
                throw new IllegalStateException("cannot allocate " + capacity + " bytes of off-heap memory (" + count + " slabs of " + slabSize
                        + "): " + e.getMessage() + ". Raise the JVM's limit (FARMEM_JAVA_OPTS=-XX:MaxDirectMemorySize=...) or the container's memory limit, or lower --capacity", e);
            }
        } else {
            try (RandomAccessFile file = new RandomAccessFile(backingFile.toFile(), "rw")) {
                file.setLength(capacity);
                FileChannel channel = file.getChannel();
                for (int i = 0; i < slabs.length; i++) {
                    slabs[i] = channel.map(FileChannel.MapMode.READ_WRITE, i * slabSize, slabSize);
                }
                // The mapping outlives the file name; nothing else should open it.
                Files.deleteIfExists(backingFile);
            } catch (IOException | OutOfMemoryError e) {
                throw new IllegalStateException("cannot map " + capacity + " bytes from " + backingFile + ": " + e.getMessage()
                        + ". On hugetlbfs, check that enough huge pages are reserved (/proc/sys/vm/nr_hugepages) and that the slab size is a multiple of the huge page size", e);
            }
        }
        return new SlabStore(slabSize, slabs);
    }

    public long slabSize() {
        return slabSize;
    }

    public int slabCount() {
        return slabs.length;
    }

    public long capacity() {
        return slabSize * slabs.length;
    }

    /**
     * Runs {@code listener} with a slab's number whenever its owner changes (another claim, or a newer epoch of the
     * same one), under the slab's exclusive lock and before it is zeroed: the RDMA server revokes the slab's
     * registration there, so an older runtime's rkey fails before the new owner's data goes in.
     */
    public void onTakeover(IntConsumer listener) {
        this.onTakeover = listener;
    }

    /** Slabs a claim has attached to. */
    public int ownedSlabs() {
        return owned.get();
    }

    /** The slab's memory; callers stay within what {@link #checkAccess} allowed. */
    public ByteBuffer slab(int slab) {
        return slabs[slab];
    }

    /**
     * Attaches a token's claim to every slab it grants: fences older epochs, zeroes slabs that a
     * new claim uid touches for the first time. Throws {@code OUT_OF_RANGE} when the token names
     * a slab this node does not have, {@code FENCED} when a slab has a newer attach.
     */
    public void attach(CapabilityToken token) {
        for (SlabRange r : token.slabs()) {
            if (r.end() > slabs.length) {
                throw new TransportException(ErrorCode.OUT_OF_RANGE, "token grants slabs " + r.first() + ".." + (r.end() - 1)
                        + " but this node has " + slabs.length + " slabs");
            }
            for (int s = r.first(); s < r.end(); s++) {
                Owner o = state[s].owner;
                if (o != null && refuses(o, token)) throw fenced(s, o, token.epoch());
            }
        }
        for (SlabRange r : token.slabs()) {
            for (int s = r.first(); s < r.end(); s++) take(s, token);
        }
    }

    private static boolean refuses(Owner o, CapabilityToken token) {
        // A different claim must come with a strictly newer epoch to take a slab over.
        return token.epoch() < o.epoch() || (token.epoch() == o.epoch() && !o.claimUid().equals(token.claimUid()));
    }

    private void take(int s, CapabilityToken token) {
        Slab slab = state[s];
        long stamp = slab.lock.writeLock();
        try {
            Owner o = slab.owner;
            if (o != null && refuses(o, token)) throw fenced(s, o, token.epoch());
            if (o == null || !o.claimUid().equals(token.claimUid()) || token.epoch() > o.epoch()) onTakeover.accept(s);
            boolean newOwner = o == null || !o.claimUid().equals(token.claimUid());
            if (newOwner) {
                zero(slabs[s]);
                if (o == null) owned.incrementAndGet();
                slab.owner = new Owner(token.claimUid(), token.epoch());
                // A new claim's zeros are its data; a joining replica's are not.
                slab.joining = token.rights().joins() ? new JoiningSlab(slabSize) : null;
            } else if (token.epoch() > o.epoch()) {
                slab.owner = new Owner(token.claimUid(), token.epoch());
                // The operator names only new replicas in a COPY token. A complete slab of the same claim here is one this
                // node held before (freed, then allocated again): stale, so it starts empty and is filled. A join already
                // running goes on (its present lines hold every write since it began).
                if (token.rights().joins() && complete(s)) {
                    zero(slabs[s]);
                    slab.joining = new JoiningSlab(slabSize);
                }
            }
        } finally {
            slab.lock.unlockWrite(stamp);
        }
    }

    /**
     * Checks that the slab is still owned by this claim uid at this epoch and that
     * {@code [offset, offset + length)} lies inside it. Returns null when allowed, else the error.
     * The caller has already checked that its token grants the slab.
     */
    public TransportException checkAccess(int slab, long offset, long length, String claimUid, long epoch) {
        if (slab < 0 || slab >= slabs.length) {
            return new TransportException(ErrorCode.OUT_OF_RANGE, "slab " + slab + " is not in this node's " + slabs.length + " slabs");
        }
        if (offset < 0 || length < 0 || offset > slabSize - length) {
            return new TransportException(ErrorCode.OUT_OF_RANGE, "bytes [" + offset + ", " + (offset + length) + ") are outside slab "
                    + slab + " of " + slabSize + " bytes");
        }
        Owner o = state[slab].owner;
        if (o == null || o.epoch() != epoch || !o.claimUid().equals(claimUid)) {
            return fenced(slab, o, epoch);
        }
        return null;
    }

    /**
     * Holds the slab against a takeover while a request checks ownership and copies (shared with
     * other requests); pass the stamp to {@link #endAccess}.
     */
    public long beginAccess(int slab) {
        return state[slab].lock.readLock();
    }

    public void endAccess(int slab, long stamp) {
        state[slab].lock.unlockRead(stamp);
    }

    /**
     * Whether the slab holds the claim's data: false while it is a joining replica being filled.
     * Reads of such a slab are refused, whatever the token says: its unfilled lines are zeros, not data.
     */
    public boolean complete(int slab) {
        JoiningSlab j = state[slab].joining;
        // Clients may have written every line since the join: then the copy has nothing left to fill.
        return j == null || j.missingLines() == 0;
    }

    /**
     * Records that a client wrote {@code [offset, offset + length)} of a joining slab, so that the copy never
     * overwrites it. Call it between {@link #beginAccess} and {@link #endAccess}, after the bytes are in. A no-op for a
     * complete slab.
     */
    public void written(int slab, long offset, int length) {
        JoiningSlab j = state[slab].joining;
        if (j != null) j.written(offset, length);
    }

    /**
     * Fills the lines of {@code [offset, offset + length)} of a joining slab that no client wrote since it joined with
     * {@code src}'s bytes (from {@code src}'s position, which is not moved), if the slab is still owned by
     * {@code claimUid} at {@code epoch}. Holds the slab exclusively, so no client write lands in between: a line is
     * either written by a client (and kept) or filled here (and a later write overwrites it). The slab turns complete
     * when its last line is filled.
     *
     * @return the bytes this call filled (0 when the slab is already complete)
     * @throws dev.farmem.transport.TransportException FENCED when the slab has another owner now
     */
    public long fill(int slab, long offset, ByteBuffer src, String claimUid, long epoch) {
        Slab st = state[slab];
        long stamp = st.lock.writeLock();
        try {
            TransportException denied = checkAccess(slab, offset, src.remaining(), claimUid, epoch);
            if (denied != null) throw denied;
            JoiningSlab j = st.joining;
            if (j == null) return 0;
            long filled = j.fill(slabs[slab], offset, src);
            if (j.missingLines() == 0) st.joining = null;
            return filled;
        } finally {
            st.lock.unlockWrite(stamp);
        }
    }

    /** Bytes of the slab a copy still has to fill: 0 for a complete slab. */
    public long bytesToFill(int slab) {
        JoiningSlab j = state[slab].joining;
        return j == null ? 0 : j.missingLines() * JoiningSlab.LINE;
    }

    /** Whether every 64-byte line of {@code [offset, offset + length)} is present already (written or filled): a copy skips it. */
    public boolean present(int slab, long offset, int length) {
        JoiningSlab j = state[slab].joining;
        return j == null || j.present(offset, length);
    }

    private static TransportException fenced(int slab, Owner o, long epoch) {
        String holder = o == null ? "no claim" : "attach epoch " + o.epoch();
        return new TransportException(ErrorCode.FENCED, "slab " + slab + " now belongs to " + holder + ", the token has epoch " + epoch
                + ": another runtime attached since; re-read the binding");
    }

    private static void zero(ByteBuffer slab) {
        ByteBuffer b = slab.duplicate().clear();
        byte[] zeros = new byte[64 * 1024];
        while (b.remaining() >= zeros.length) b.put(zeros);
        b.put(zeros, 0, b.remaining());
    }
}
