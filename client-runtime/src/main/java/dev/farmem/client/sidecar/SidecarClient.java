package dev.farmem.client.sidecar;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.cache.Translation;
import dev.farmem.client.engine.BlockCache;
import dev.farmem.client.engine.ThreadLocalCounter;
import java.io.IOException;
import java.lang.ref.Cleaner;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;

/**
 * The application side of sidecar mode: maps the sidecar's cache region and control file,
 * serves hits and sets dirty bits itself, and asks the sidecar for misses and flushes through
 * this thread's request slot. A frame this process uses is published as a hazard in shared
 * memory, never counted in the frame's pin count, so a crash of this process leaves nothing
 * the sidecar cannot reclaim. Applications use it through {@code FarMemory.attach}.
 */
public final class SidecarClient implements BlockCache {

    private static final Cleaner CLEANER = Cleaner.create();
    private static final long HEARTBEAT_MILLIS = 100;
    /** How long it sleeps at most before it looks at the sidecar's liveness again. */
    private static final long SLEEP_MILLIS = 20;
    /** Longer than the sidecar itself waits for a miss that has to wait (4 request timeouts of the transport). */
    private static final long MAX_WAIT_MILLIS = 60_000;

    private final Path dir;
    private final SharedControl control;
    private final CacheRegion region;
    private final int client;
    private final long token;
    private final String claim;
    private final long claimSize;
    private final long slabSize;
    private final ThreadLocal<AppThread> threads = ThreadLocal.withInitial(this::newThread);
    private final ThreadLocalCounter hits = new ThreadLocalCounter(); // as in-process: no atomic instruction on a hit
    private final LongAdder dirtyLines = new LongAdder();
    private final LongAdder dirtyWords = new LongAdder();
    private final LongAdder requestBells = new LongAdder();
    private final Set<Doorbell> doorbells = ConcurrentHashMap.newKeySet();
    private final Thread heartbeat;
    private final SidecarLiveness sidecar;
    private volatile String closedReason;

    private SidecarClient(Path dir, SharedControl control, CacheRegion region, int client, long token) {
        this.dir = dir;
        this.control = control;
        this.region = region;
        this.client = client;
        this.token = token;
        this.claim = control.claim();
        this.claimSize = control.claimSize();
        this.slabSize = control.slabSize();
        this.sidecar = new SidecarLiveness(control);
        this.heartbeat = new Thread(this::runHeartbeat, "farmem-sidecar-lease-" + claim);
        heartbeat.setDaemon(true);
        heartbeat.start();
    }

    /**
     * Attaches to the sidecar serving {@code dir} (its shared-memory directory), waiting up to
     * {@code waitMillis} for it to be running: a pod's containers start in any order.
     */
    public static SidecarClient attach(Path dir, long waitMillis) {
        long deadline = System.currentTimeMillis() + waitMillis;
        Path controlFile = dir.resolve(SharedControl.FILE);
        for (;;) {
            String why = null;
            try {
                SharedControl control = mapControl(controlFile);
                if (control == null) {
                    why = "its control file " + controlFile + " is not initialised yet";
                } else if (!new SidecarLiveness(control).running(true)) {
                    why = "it is not running (no heartbeat for " + (System.currentTimeMillis() - control.heartbeat()) + " ms)";
                } else {
                    return lease(dir, control);
                }
            } catch (NoSuchFileException e) {
                why = "its control file " + controlFile + " does not exist";
            } catch (IOException e) {
                throw new IllegalStateException("cannot map the sidecar's control file " + controlFile + ": " + e.getMessage(), e);
            }
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("no farmem sidecar serves " + dir + ": " + why
                        + ". Start one (./farmem sidecar --shm " + dir + ") or check that the pod has the farmem.io/claim annotation");
            }
            LockSupport.parkNanos(20_000_000);
        }
    }

    private static SharedControl mapControl(Path file) throws IOException {
        long size = Files.size(file);
        if (size < 4096) return null;
        return SharedControl.existing(SharedControl.map(file, size));
    }

    private static SidecarClient lease(Path dir, SharedControl control) throws IOException {
        int blockSize = control.blockSize();
        int frames = control.frames();
        MappedByteBuffer mapped = SharedControl.map(dir.resolve(SharedFiles.REGION_FILE), CacheRegion.bytesNeeded(blockSize, frames));
        if (!CacheRegion.holds(mapped, blockSize, frames)) {
            throw new IllegalStateException("the cache region in " + dir + " does not match the sidecar's control file: restart the sidecar");
        }
        CacheRegion region = CacheRegion.over(mapped, blockSize, frames); // rewrites the same header values
        long token = ThreadLocalRandom.current().nextLong(1, Long.MAX_VALUE);
        ProcessHandle self = ProcessHandle.current();
        long start = SharedControl.startMillis(self);
        for (int c = 0; c < control.maxClients(); c++) {
            if (control.owner(c) != 0) continue;
            control.clientHeartbeat(c, System.currentTimeMillis()); // fresh before the lease is visible
            if (!control.casOwner(c, 0, token)) continue;
            control.process(c, self.pid(), SharedControl.pidNamespace(), start);
            control.clientCounters(c, 0, 0, 0);
            control.clientHeartbeat(c, System.currentTimeMillis());
            return new SidecarClient(dir, control, region, c, token);
        }
        throw new IllegalStateException("the sidecar in " + dir + " already serves " + control.maxClients()
                + " application processes: close one, or start the sidecar with a larger --max-clients");
    }

    public String claim() { return claim; }
    public long claimSize() { return claimSize; }
    public long slabSize() { return slabSize; }
    public Path directory() { return dir; }

    /** The sidecar's counters (all its applications), as it last published them. */
    public long[] sidecarStats() {
        long[] out = new long[SharedControl.STAT_COUNT];
        for (int i = 0; i < out.length; i++) out[i] = control.stat(i);
        return out;
    }

    /** Requests this process announced with a bell (none while the sidecar polls; a thread that then sleeps rings too, not counted here). */
    long requestBells() {
        return requestBells.sum();
    }

    /** Times the sidecar woke a thread of this process that slept waiting for an answer. */
    long wakeups() {
        return doorbells.stream().mapToLong(Doorbell::wakeups).sum();
    }

    @Override
    public CacheRegion region() {
        return region;
    }

    @Override
    public void ensureOpen() {
        String why = closedReason;
        if (why != null) throw new IllegalStateException(why);
    }

    // ---- the access path -----------------------------------------------------------------

    @Override
    public int pin(long block) {
        ensureOpen();
        AppThread t = threads.get();
        int h = t.freeHazard();
        long s = region.tryOptimisticRead(block, t.translation); // the entry translates the block and counts the hit
        if (s >= 0) {
            int f = region.stampFrame(s);
            control.hazard(t.slot, h, f + 1L);
            if ((region.state(f) & CacheRegion.EXCLUSIVE) == 0 && region.tag(f) == block + 1) {
                t.held[h] = f;
                t.translation.countHit();
                region.touch(f);
                return f;
            }
            control.hazard(t.slot, h, 0L);
            t.translation.forget();
        }
        int frame = t.call(SharedControl.OP_MISS, block, h);
        t.held[h] = frame;
        return frame;
    }

    @Override
    public void unpin(int frame) {
        AppThread t = threads.get();
        for (int i = 0; i < SharedControl.HAZARDS; i++) {
            if (t.held[i] == frame) {
                t.held[i] = -1;
                control.releaseHazard(t.slot, i);
                return;
            }
        }
        throw new IllegalStateException("frame " + frame + " is not pinned by this thread");
    }

    @Override
    public void markDirty(int frame, int offset, int length) {
        region.markDirty(frame, offset, length, dirtyLines, dirtyWords);
    }

    @Override
    public ThreadLocalCounter hits() {
        return hits;
    }

    /** Asks the sidecar to write back every dirty line; returns once every live replica acknowledged. */
    @Override
    public void flush() {
        ensureOpen();
        threads.get().call(SharedControl.OP_FLUSH, 0, -1);
    }

    /** Flushes, then gives the lease back; later use throws {@link IllegalStateException}. */
    @Override
    public void close() {
        if (closedReason != null) return;
        try {
            publishCounters(); // the flush makes the sidecar take them, before the lease ends
            flush();
        } finally {
            closedReason = "far memory of claim " + claim + " (sidecar " + dir + ") is closed: attach again to use it";
            heartbeat.interrupt();
            for (Doorbell b : doorbells) b.close();
            publishCounters();
            for (int t = 0; t < control.threadsPerClient(); t++) {
                int slot = control.slot(client, t);
                for (int i = 0; i < SharedControl.HAZARDS; i++) control.hazard(slot, i, 0L);
                control.freeSlot(slot);
            }
            if (control.owner(client) == token) control.process(client, 0, 0, 0); // the next owner must not inherit this identity
            control.casOwner(client, token, 0);
        }
    }

    // ---- lease -------------------------------------------------------------------------

    private void runHeartbeat() {
        while (closedReason == null) {
            if (control.owner(client) != token) {
                closedReason = "the farmem sidecar in " + dir + " reclaimed this process's lease: it saw no heartbeat for more than "
                        + control.leaseTimeoutMillis() + " ms (was the process paused?). Attach again; writes not flushed may be lost";
                return;
            }
            control.clientHeartbeat(client, System.currentTimeMillis());
            publishCounters();
            try {
                Thread.sleep(HEARTBEAT_MILLIS);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void publishCounters() {
        control.clientCounters(client, hits.sum(), dirtyLines.sum(), dirtyWords.sum());
    }

    private AppThread newThread() {
        for (int t = 0; t < control.threadsPerClient(); t++) {
            int slot = control.slot(client, t);
            if (control.tryTakeSlot(slot)) {
                control.raiseThreadsUsed(client, t + 1);
                for (int i = 0; i < SharedControl.HAZARDS; i++) control.hazard(slot, i, 0L);
                Doorbell bell = new Doorbell(dir, token, slot);
                doorbells.add(bell);
                AppThread at = new AppThread(slot, Math.max(control.requestSeq(slot), control.responseSeq(slot)), bell);
                SharedControl c = control;
                int lease = client;
                long owner = token;
                Set<Doorbell> bells = doorbells;
                CLEANER.register(Thread.currentThread(), () -> { // the thread died: its slot serves another
                    bell.close();
                    bells.remove(bell);
                    if (c.owner(lease) != owner) return; // this lease ended; the slot may be another's by now
                    for (int i = 0; i < SharedControl.HAZARDS; i++) c.hazard(slot, i, 0L);
                    c.freeSlot(slot);
                });
                return at;
            }
        }
        throw new IllegalStateException("more than " + control.threadsPerClient() + " threads of this process use far memory of claim "
                + claim + " at once: use a thread pool, or start the sidecar with a larger --threads-per-client");
    }

    /** One application thread's request slot and the hazards it holds (this thread only). */
    private final class AppThread {
        final int slot;
        final int[] held = {-1, -1, -1, -1};
        final Doorbell bell;
        /** The thread's translation entry, looked up once here rather than on every pin. */
        final Translation translation = hits.mine();
        long seq;

        AppThread(int slot, long seq, Doorbell bell) {
            this.slot = slot;
            this.seq = seq;
            this.bell = bell;
        }

        int freeHazard() {
            for (int i = 0; i < SharedControl.HAZARDS; i++) if (held[i] < 0) return i;
            throw new IllegalStateException("a thread may hold at most " + SharedControl.HAZARDS + " frames at once");
        }

        /**
         * Posts a request, rings the sidecar, and waits for the answer: spins for about one miss,
         * then sleeps on the doorbell until the sidecar wakes it. Fails clearly when
         * the sidecar stops answering; a sidecar restarted meanwhile is rung again and serves it.
         */
        int call(int op, long block, int h) {
            long s = ++seq;
            if ((s & 0xFFFF_FFFFL) == 0) s = ++seq; // a reservation of 0 would look like a free hazard
            if (!sidecar.running(false)) throw unavailable();
            if (h >= 0) control.hazard(slot, h, SharedControl.reservation(s));
            control.postRequest(slot, op, h, block, s);
            boolean rung = !control.polling() && bell.ring(); // a polling sidecar sees the request without a bell
            if (rung) requestBells.increment();
            // Spin by yielding (see MISS_SPIN_NANOS): besides, a socket write wakes the sidecar with a "sync" hint, so
            // the kernel may queue its event loop behind this very thread; a bare spin made it wait (+20 us p50).
            long spinUntil = System.nanoTime() + MISS_SPIN_NANOS;
            while (control.responseSeq(slot) != s && System.nanoTime() - spinUntil < 0) Thread.yield();
            if (control.responseSeq(slot) != s) sleep(s, h, rung);
            int r = control.result(slot);
            if (r < 0) throw giveUp(h, new IllegalStateException(control.message(slot)));
            if (h >= 0 && SharedControl.hazardFrame(control.hazard(slot, h)) != r) {
                throw new IllegalStateException("the sidecar answered block " + block + " with frame " + r
                        + " but did not publish its hazard: the shared memory in " + dir + " is corrupt");
            }
            return r;
        }

        /**
         * Sleeps on the doorbell until answer {@code s} is in the slot. It rings first if it has
         * not (the sidecar polled the request), and again after every {@value #SLEEP_MILLIS} ms
         * without the answer: a bell only makes the sidecar look at this slot, so ringing again
         * is harmless, and a request or wake-up lost in a race costs one sleep, not a hang.
         */
        private void sleep(long s, int h, boolean rung) {
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(MAX_WAIT_MILLIS);
            control.waiting(slot, true); // then read the answer (Dekker: the sidecar answers, then reads this)
            try {
                if (!rung) rung = bell.ring();
                while (control.responseSeq(slot) != s) {
                    if (Thread.currentThread().isInterrupted()) { // a select would return at once: give up, keep the status
                        throw giveUp(h, new IllegalStateException("interrupted while waiting for the farmem sidecar of claim " + claim + " (" + dir + ")"));
                    }
                    boolean connected = rung && bell.await(SLEEP_MILLIS);
                    if (control.responseSeq(slot) == s) return;
                    if (closedReason != null) throw giveUp(h, new IllegalStateException(closedReason));
                    if (!sidecar.running(!connected)) throw giveUp(h, unavailable());
                    if (System.nanoTime() - deadline > 0) {
                        throw giveUp(h, new SidecarUnavailableException("the farmem sidecar of claim " + claim + " (" + dir + ") runs but did not answer request "
                                + s + " within " + MAX_WAIT_MILLIS + " ms (slot " + slot + ": posted " + control.requestSeq(slot) + ", answered "
                                + control.responseSeq(slot) + ", polling " + control.polling() + "); see the sidecar's log, then retry"));
                    }
                    rung = bell.ring(); // reconnects to a sidecar that restarted
                    if (!rung) LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(SLEEP_MILLIS));
                }
            } finally {
                control.waiting(slot, false);
            }
        }

        /** Drops the request's hazard (the thread no longer waits for its frame) and returns {@code e} to throw. */
        private RuntimeException giveUp(int h, RuntimeException e) {
            if (h >= 0) control.hazard(slot, h, 0L);
            return e;
        }

        private IllegalStateException unavailable() {
            long silent = sidecar.silentMillis();
            String state = control.state() == SharedControl.STATE_STOPPED ? "stopped (" + control.stopReason() + ")"
                    : "has not signalled for " + silent + " ms";
            return new SidecarUnavailableException("the farmem sidecar of claim " + claim + " (" + dir + ") " + state
                    + ": misses and flushes wait for it to run again; writes a flush acknowledged are safe. Retry once it is back");
        }
    }
}
