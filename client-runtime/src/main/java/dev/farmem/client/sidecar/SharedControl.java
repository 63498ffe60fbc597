package dev.farmem.client.sidecar;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;

/**
 * A flyweight over the control file the sidecar and its applications share (layout in
 * {@code package-info.java}): the header the sidecar writes, one lease per application
 * process, and one request slot per application thread with its hazards. Every field that
 * crosses processes is read and written with a named memory order; no Java object lives in it.
 */
final class SharedControl {

    static final String FILE = "control";
    static final int MAGIC = 0x52435346; // "FSCR"
    static final int LAYOUT_VERSION = 2;

    static final int OP_MISS = 1;
    static final int OP_FLUSH = 2;
    static final int RESULT_ERROR = -1;

    static final int STATE_ABSENT = 0;
    static final int STATE_RUNNING = 1;
    static final int STATE_STOPPED = 2;

    /** Hazards per application thread: frames the thread uses that eviction must leave alone. */
    static final int HAZARDS = 4;
    static final int MESSAGE_BYTES = 240;

    // header
    private static final int H_MAGIC = 0;
    private static final int H_VERSION = 4;
    private static final int H_MAX_CLIENTS = 8;
    private static final int H_THREADS = 12;
    private static final int H_CLAIM_SIZE = 16;
    private static final int H_SLAB_SIZE = 24;
    private static final int H_BLOCK_SIZE = 32;
    private static final int H_FRAMES = 36;
    private static final int H_EPOCH = 40;
    private static final int H_PID = 48;
    private static final int H_STATE = 56;
    private static final int H_HEARTBEAT = 64; // own cache line
    private static final int H_POLLING = 128; // own cache line
    private static final int H_LEASE_TIMEOUT = 192;
    private static final int H_SIDECAR_TIMEOUT = 200;
    private static final int H_PID_NS = 208;
    private static final int H_START = 216;
    private static final int H_STATS = 256; // STAT_COUNT longs
    static final int STAT_COUNT = 12;
    private static final int H_CLAIM = 512; // int length + bytes
    private static final int H_CLAIM_UID = 1024;
    private static final int H_STOP_REASON = 1536;
    private static final int NAME_BYTES = 400;
    private static final int HEADER = 4096;

    // one lease per application process
    private static final int C_OWNER = 0;
    private static final int C_PID = 8;
    private static final int C_START = 16;
    private static final int C_HEARTBEAT = 24;
    private static final int C_HITS = 32;
    private static final int C_DIRTY_LINES = 40;
    private static final int C_DIRTY_WORDS = 48;
    private static final int C_THREADS_USED = 56;
    private static final int C_PID_NS = 64;
    private static final int CLIENT_STRIDE = 128;

    // one request slot per application thread: request line, response line, hazards, message
    private static final int T_REQ_SEQ = 0;
    private static final int T_OP = 8;
    private static final int T_HAZARD_INDEX = 12;
    private static final int T_BLOCK = 16;
    private static final int T_IN_USE = 24;
    private static final int T_WAITING = 28;
    private static final int T_RESP_SEQ = 64;
    private static final int T_RESULT = 72;
    private static final int T_MESSAGE_LENGTH = 76;
    private static final int T_HAZARDS = 128;
    private static final int T_MESSAGE = 256;
    private static final int THREAD_STRIDE = 512;

    private static final VarHandle LONG = MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle INT = MethodHandles.byteBufferViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);

    private final ByteBuffer buf;
    private final int maxClients;
    private final int threadsPerClient;
    private final int threadsOffset;

    private SharedControl(ByteBuffer buf, int maxClients, int threadsPerClient) {
        this.buf = buf;
        this.maxClients = maxClients;
        this.threadsPerClient = threadsPerClient;
        this.threadsOffset = HEADER + maxClients * CLIENT_STRIDE;
    }

    static long bytesNeeded(int maxClients, int threadsPerClient) {
        return HEADER + (long) maxClients * CLIENT_STRIDE + (long) maxClients * threadsPerClient * THREAD_STRIDE;
    }

    /** Maps {@code file} read-write at {@code bytes} (extending a new file with zeros). */
    static MappedByteBuffer map(Path file, long bytes) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes);
            m.order(ByteOrder.LITTLE_ENDIAN);
            return m;
        }
    }

    /**
     * Makes a file the sidecar created readable and writable by its group as well (rw-rw----):
     * an application container running as another user shares it through the pod's fsGroup,
     * which a Memory emptyDir hands to every file created in it.
     */
    static void shareWithGroup(Path file) throws IOException {
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-rw----"));
        } catch (UnsupportedOperationException notPosix) {
            // a file system without POSIX permissions: nothing to share
        }
    }

    /** A fresh control area (zeroed buffer) with this geometry; the sidecar fills the rest of the header. */
    static SharedControl create(ByteBuffer zeroed, int maxClients, int threadsPerClient) {
        SharedControl c = new SharedControl(zeroed, maxClients, threadsPerClient);
        INT.set(zeroed, H_MAX_CLIENTS, maxClients);
        INT.set(zeroed, H_THREADS, threadsPerClient);
        INT.set(zeroed, H_VERSION, LAYOUT_VERSION);
        INT.setRelease(zeroed, H_MAGIC, MAGIC);
        return c;
    }

    /** The control area in {@code buffer}, or null when it holds none (not written yet, or another layout). */
    static SharedControl existing(ByteBuffer buffer) {
        if (buffer.capacity() < HEADER || (int) INT.getAcquire(buffer, H_MAGIC) != MAGIC
                || (int) INT.get(buffer, H_VERSION) != LAYOUT_VERSION) {
            return null;
        }
        int clients = (int) INT.get(buffer, H_MAX_CLIENTS);
        int threads = (int) INT.get(buffer, H_THREADS);
        if (clients <= 0 || threads <= 0 || buffer.capacity() < bytesNeeded(clients, threads)) return null;
        return new SharedControl(buffer, clients, threads);
    }

    int maxClients() { return maxClients; }
    int threadsPerClient() { return threadsPerClient; }

    // ---- header: written by the sidecar -------------------------------------------------

    void geometry(long claimSize, long slabSize, int blockSize, int frames) {
        LONG.set(buf, H_CLAIM_SIZE, claimSize);
        LONG.set(buf, H_SLAB_SIZE, slabSize);
        INT.set(buf, H_BLOCK_SIZE, blockSize);
        INT.set(buf, H_FRAMES, frames);
    }

    long claimSize() { return (long) LONG.get(buf, H_CLAIM_SIZE); }
    long slabSize() { return (long) LONG.get(buf, H_SLAB_SIZE); }
    int blockSize() { return (int) INT.get(buf, H_BLOCK_SIZE); }
    int frames() { return (int) INT.get(buf, H_FRAMES); }

    void claim(String name, String uid) {
        putString(H_CLAIM, name, NAME_BYTES);
        putString(H_CLAIM_UID, uid == null ? "" : uid, NAME_BYTES);
    }

    String claim() { return getString(H_CLAIM); }
    String claimUid() { return getString(H_CLAIM_UID); }

    void timeouts(long leaseMillis, long sidecarMillis) {
        LONG.set(buf, H_LEASE_TIMEOUT, leaseMillis);
        LONG.set(buf, H_SIDECAR_TIMEOUT, sidecarMillis);
    }

    long leaseTimeoutMillis() { return (long) LONG.get(buf, H_LEASE_TIMEOUT); }
    long sidecarTimeoutMillis() { return (long) LONG.get(buf, H_SIDECAR_TIMEOUT); }

    long nextEpoch() { return (long) LONG.getAndAdd(buf, H_EPOCH, 1L) + 1; }
    long epoch() { return (long) LONG.getVolatile(buf, H_EPOCH); }

    /** Who the sidecar is: pid, PID namespace and start time, so a peer in the same namespace can see it die at once. */
    void sidecarProcess(long pid, long pidNamespace, long startMillis) {
        LONG.set(buf, H_PID_NS, pidNamespace);
        LONG.set(buf, H_START, startMillis);
        LONG.setRelease(buf, H_PID, pid);
    }

    long sidecarPid() { return (long) LONG.getAcquire(buf, H_PID); }
    long sidecarPidNamespace() { return (long) LONG.get(buf, H_PID_NS); }
    long sidecarStart() { return (long) LONG.get(buf, H_START); }

    void state(int state) { INT.setVolatile(buf, H_STATE, state); }
    int state() { return (int) INT.getVolatile(buf, H_STATE); }

    void stopReason(String reason) { putString(H_STOP_REASON, reason, NAME_BYTES); }
    String stopReason() { return getString(H_STOP_REASON); }

    /** Sidecar: its event loop polls the request slots now (set before it polls, cleared with a full fence before it stops). */
    void polling(boolean on) { INT.setVolatile(buf, H_POLLING, on ? 1 : 0); }
    /** Application, after posting a request with a full fence: the sidecar will see it without a bell. */
    boolean polling() { return (int) INT.getVolatile(buf, H_POLLING) != 0; }

    void heartbeat(long millis) { LONG.setRelease(buf, H_HEARTBEAT, millis); }
    long heartbeat() { return (long) LONG.getAcquire(buf, H_HEARTBEAT); }

    void stat(int i, long v) { LONG.setRelease(buf, H_STATS + 8 * i, v); }
    long stat(int i) { return (long) LONG.getAcquire(buf, H_STATS + 8 * i); }

    private void putString(int at, String s, int max) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(b.length, max);
        buf.put(at + 4, b, 0, n);
        INT.setRelease(buf, at, n);
    }

    private String getString(int at) {
        int n = Math.min(Math.max(0, (int) INT.getAcquire(buf, at)), NAME_BYTES);
        byte[] b = new byte[n];
        buf.get(at + 4, b);
        return new String(b, StandardCharsets.UTF_8);
    }

    // ---- leases: one per application process --------------------------------------------

    private int client(int c) { return HEADER + c * CLIENT_STRIDE; }

    long owner(int c) { return (long) LONG.getVolatile(buf, client(c) + C_OWNER); }
    boolean casOwner(int c, long expect, long update) { return LONG.compareAndSet(buf, client(c) + C_OWNER, expect, update); }
    void owner(int c, long v) { LONG.setVolatile(buf, client(c) + C_OWNER, v); }

    void process(int c, long pid, long pidNamespace, long startMillis) {
        LONG.set(buf, client(c) + C_PID, pid);
        LONG.set(buf, client(c) + C_PID_NS, pidNamespace);
        LONG.setRelease(buf, client(c) + C_START, startMillis);
    }

    long pidNamespace(int c) { return (long) LONG.get(buf, client(c) + C_PID_NS); }

    long pid(int c) { return (long) LONG.get(buf, client(c) + C_PID); }
    long processStart(int c) { return (long) LONG.getAcquire(buf, client(c) + C_START); }

    void clientHeartbeat(int c, long millis) { LONG.setRelease(buf, client(c) + C_HEARTBEAT, millis); }
    long clientHeartbeat(int c) { return (long) LONG.getAcquire(buf, client(c) + C_HEARTBEAT); }

    /** Totals the application counted itself (hits, dirtied lines and mask words), for the sidecar's metrics. */
    void clientCounters(int c, long hits, long dirtyLines, long dirtyWords) {
        LONG.setRelease(buf, client(c) + C_HITS, hits);
        LONG.setRelease(buf, client(c) + C_DIRTY_LINES, dirtyLines);
        LONG.setRelease(buf, client(c) + C_DIRTY_WORDS, dirtyWords);
    }

    long clientHits(int c) { return (long) LONG.getAcquire(buf, client(c) + C_HITS); }
    long clientDirtyLines(int c) { return (long) LONG.getAcquire(buf, client(c) + C_DIRTY_LINES); }
    long clientDirtyWords(int c) { return (long) LONG.getAcquire(buf, client(c) + C_DIRTY_WORDS); }

    /** One more than the highest thread slot the client ever used (the sidecar scans only those). */
    int threadsUsed(int c) { return (int) INT.getVolatile(buf, client(c) + C_THREADS_USED); }

    void raiseThreadsUsed(int c, int atLeast) {
        int at = client(c) + C_THREADS_USED;
        for (;;) {
            int cur = (int) INT.getVolatile(buf, at);
            if (cur >= atLeast || INT.compareAndSet(buf, at, cur, atLeast)) return;
        }
    }

    void resetThreadsUsed(int c) { INT.setVolatile(buf, client(c) + C_THREADS_USED, 0); }

    // ---- request slots: one per application thread ----------------------------------------

    /** Index of thread slot {@code t} of client {@code c}. */
    int slot(int c, int t) { return c * threadsPerClient + t; }

    private int thread(int slot) { return threadsOffset + slot * THREAD_STRIDE; }

    boolean tryTakeSlot(int slot) { return INT.compareAndSet(buf, thread(slot) + T_IN_USE, 0, 1); }
    void freeSlot(int slot) { INT.setVolatile(buf, thread(slot) + T_IN_USE, 0); }

    /** Application: the request's fields, then the sequence number with release order. */
    void postRequest(int slot, int op, int hazardIndex, long block, long seq) {
        int at = thread(slot);
        INT.set(buf, at + T_OP, op);
        INT.set(buf, at + T_HAZARD_INDEX, hazardIndex);
        LONG.set(buf, at + T_BLOCK, block);
        LONG.setVolatile(buf, at + T_REQ_SEQ, seq); // full fence: the polling flag read after it is current (Dekker)
    }

    long requestSeq(int slot) { return (long) LONG.getAcquire(buf, thread(slot) + T_REQ_SEQ); }
    int op(int slot) { return (int) INT.get(buf, thread(slot) + T_OP); }
    int hazardIndex(int slot) { return (int) INT.get(buf, thread(slot) + T_HAZARD_INDEX); }
    long block(int slot) { return (long) LONG.get(buf, thread(slot) + T_BLOCK); }

    /** Sidecar: the result (and an error message), then the sequence number with release order. */
    void respond(int slot, long seq, int result, String message) {
        int at = thread(slot);
        if (message != null) {
            byte[] b = message.getBytes(StandardCharsets.UTF_8);
            int n = Math.min(b.length, MESSAGE_BYTES);
            buf.put(at + T_MESSAGE, b, 0, n);
            INT.set(buf, at + T_MESSAGE_LENGTH, n);
        }
        INT.set(buf, at + T_RESULT, result);
        LONG.setVolatile(buf, at + T_RESP_SEQ, seq); // full fence: the waiting flag read after it is current (Dekker)
    }

    /**
     * Application: it is about to sleep on its doorbell (or woke up). It sets this, then reads the
     * response sequence; the sidecar writes the response, then reads this, and wakes it if set.
     */
    void waiting(int slot, boolean waiting) { INT.setVolatile(buf, thread(slot) + T_WAITING, waiting ? 1 : 0); }
    boolean waiting(int slot) { return (int) INT.getVolatile(buf, thread(slot) + T_WAITING) != 0; }

    long responseSeq(int slot) { return (long) LONG.getAcquire(buf, thread(slot) + T_RESP_SEQ); }
    int result(int slot) { return (int) INT.get(buf, thread(slot) + T_RESULT); }

    String message(int slot) {
        int at = thread(slot);
        int n = Math.min(Math.max(0, (int) INT.get(buf, at + T_MESSAGE_LENGTH)), MESSAGE_BYTES);
        byte[] b = new byte[n];
        buf.get(at + T_MESSAGE, b);
        return new String(b, StandardCharsets.UTF_8);
    }

    /** Forgets a request nobody waits for any more (its owner is gone). */
    void settle(int slot) { LONG.setRelease(buf, thread(slot) + T_RESP_SEQ, requestSeq(slot)); }

    // ---- hazards: frame + 1 in the low 32 bits, a request's sequence in the high 32 bits ----

    private int hazardAt(int slot, int i) { return thread(slot) + T_HAZARDS + 8 * i; }

    /** Publishes or clears a hazard with a full fence, so a following read of the frame's state is ordered after it. */
    void hazard(int slot, int i, long value) { LONG.setVolatile(buf, hazardAt(slot, i), value); }

    /** Clears a hazard after the frame's data and dirty bits were written (release). */
    void releaseHazard(int slot, int i) { LONG.setRelease(buf, hazardAt(slot, i), 0L); }

    long hazard(int slot, int i) { return (long) LONG.getVolatile(buf, hazardAt(slot, i)); }

    boolean casHazard(int slot, int i, long expect, long update) { return LONG.compareAndSet(buf, hazardAt(slot, i), expect, update); }

    // ---- liveness of peers ----------------------------------------------------------------

    /** This process's PID namespace (the inode of /proc/self/ns/pid), 0 if unknown. */
    static long pidNamespace() {
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/ns/pid")).toString(); // pid:[4026531836]
            return Long.parseLong(link.substring(link.indexOf('[') + 1, link.indexOf(']')));
        } catch (IOException | RuntimeException e) {
            return 0;
        }
    }

    static long startMillis(ProcessHandle p) {
        return p.info().startInstant().map(Instant::toEpochMilli).orElse(0L);
    }

    /**
     * What a peer in the same PID namespace can tell for sure: true if process {@code pid}
     * started at {@code startMillis} is gone. Peers in other namespaces (containers without a
     * shared process namespace) cannot tell, and rely on heartbeats alone.
     */
    static boolean surelyDead(long pid, long pidNamespace, long startMillis, long myNamespace) {
        if (pidNamespace == 0 || pidNamespace != myNamespace || pid <= 0) return false;
        return ProcessHandle.of(pid)
                .filter(ProcessHandle::isAlive)
                .map(p -> Math.abs(startMillis(p) - startMillis) >= 1_000)
                .orElse(true);
    }

    static long reservation(long seq) { return (seq & 0xFFFF_FFFFL) << 32; }

    static int hazardFrame(long hazard) { return (int) hazard - 1; }

    /** True if a hazard of a leased client names {@code frame}: eviction must not take it. */
    boolean frameInUse(int frame) {
        long want = frame + 1L;
        for (int c = 0; c < maxClients; c++) {
            if (owner(c) == 0) continue;
            int used = Math.min(threadsUsed(c), threadsPerClient);
            for (int t = 0; t < used; t++) {
                int base = hazardAt(slot(c, t), 0);
                for (int i = 0; i < HAZARDS; i++) {
                    if (((long) LONG.getVolatile(buf, base + 8 * i) & 0xFFFF_FFFFL) == want) return true;
                }
            }
        }
        return false;
    }
}
