package dev.farmem.client.sidecar;

import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.cache.DirtyLineMask;
import dev.farmem.client.engine.CacheEngine;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.client.engine.ReplicaRouter;
import dev.farmem.transport.Transport;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.tcp.EventLoops;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import io.netty.channel.EventLoopGroup;
import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar: owns the connections and tokens of one claim, and runs the one cache engine
 * ({@link CacheEngine}) over a cache region mapped from a file in a shared-memory directory.
 * Application processes ({@link SidecarClient}) map the same region, serve their hits and set
 * their dirty bits; their doorbells ring on the event loop that runs the connections to the
 * memory nodes, which starts their misses from the request slots of the control file and answers
 * them when the nodes respond (flushes go to workers). A housekeeper thread beats the sidecar's
 * heartbeat, reclaims the leases of dead applications and reloads the binding when its tokens
 * change. Started again over the same directory, it re-attaches to the region and writes back
 * every dirty line it finds there.
 */
public final class Sidecar implements AutoCloseable {

    static final String REGION_FILE = "cache.region";
    private static final Logger LOG = LoggerFactory.getLogger(Sidecar.class);
    private static final long HOUSEKEEPING_MILLIS = 100;
    /** How long after requests from two threads the sidecar stays with doorbells. */
    private static final long SHARED_NANOS = 10_000_000;
    private static final long MY_PID_NAMESPACE = SharedControl.pidNamespace();

    private final SidecarOptions options;
    private final Path dir;
    private final SharedControl control;
    private final CacheRegion region;
    private final long blockCount;
    private final boolean reattached;
    private final CollectorRegistry registry;
    private final Transport ownedTransport;
    private final ReentrantReadWriteLock engineLock = new ReentrantReadWriteLock();
    private final EventLoopGroup io;
    private final DoorbellServer doorbells;
    private final ExecutorService workers;
    private final Thread housekeeper;
    private final long[] dispatched;
    private final long[][] absorbed; // per client: hits, dirty lines, dirty words already added to the metrics
    private final long[] absorbedOwner;
    private final AtomicInteger reclaimedClients = new AtomicInteger();
    private volatile Binding binding;
    private volatile CacheEngine engine;
    private volatile ClientMetrics metrics;
    private volatile boolean running = true;
    private volatile boolean reloading;
    private Binding rejectedBinding; // housekeeper only: logged once
    private final io.netty.channel.EventLoop loop;
    private final long pollNanos;
    private long pollUntil; // event loop only
    private boolean polling; // event loop only
    private final AtomicInteger fetching = new AtomicInteger(); // misses started on the event loop, not yet answered
    private int lastSlot = -1; // event loop only: the slot of the last request started
    private long sharedUntil; // event loop only: until then, requests came from more than one thread: no polling
    private final Runnable poll = this::poll;

    private Sidecar(Binding binding, SidecarOptions options) throws IOException {
        binding.validate();
        this.options = options;
        this.binding = binding;
        this.dir = options.directory();
        FarMemoryOptions eo = options.engine();
        int blockSize = binding.blockSize();
        long claimBlocks = binding.sizeBytes() / blockSize;
        long frames = Math.min(eo.cacheBytes() / blockSize, claimBlocks);
        if (frames < Math.min(16, claimBlocks)) {
            throw new IllegalArgumentException("a cache of " + eo.cacheBytes() + " bytes holds fewer than 16 blocks of "
                    + blockSize + " bytes: give at least " + 16L * blockSize);
        }
        this.blockCount = claimBlocks;
        Files.createDirectories(dir);
        Path controlFile = dir.resolve(SharedControl.FILE);
        Path regionFile = dir.resolve(REGION_FILE);
        long regionBytes = CacheRegion.bytesNeeded(blockSize, Math.toIntExact(frames));
        SharedControl previous = previous(controlFile, binding, blockSize, (int) frames, options);
        if (previous == null) {
            Files.deleteIfExists(controlFile); // fresh files: a stale mapping of old ones sees nothing new
            Files.deleteIfExists(regionFile);
        }
        MappedByteBuffer regionBuffer = SharedControl.map(regionFile, regionBytes);
        SharedControl.shareWithGroup(regionFile);
        this.reattached = previous != null && CacheRegion.holds(regionBuffer, blockSize, (int) frames);
        this.region = CacheRegion.over(regionBuffer, blockSize, (int) frames);
        this.control = previous != null ? previous
                : SharedControl.create(SharedControl.map(controlFile, SharedControl.bytesNeeded(options.maxClients(), options.threadsPerClient())),
                        options.maxClients(), options.threadsPerClient());
        SharedControl.shareWithGroup(controlFile);
        control.state(SharedControl.STATE_ABSENT);
        control.geometry(binding.sizeBytes(), binding.slabSize(), blockSize, (int) frames);
        control.claim(binding.claim(), binding.claimUid());
        control.timeouts(options.leaseTimeoutMillis(), options.sidecarTimeoutMillis());
        control.sidecarProcess(ProcessHandle.current().pid(), MY_PID_NAMESPACE, SharedControl.startMillis(ProcessHandle.current()));
        int slots = control.maxClients() * control.threadsPerClient();
        this.dispatched = new long[slots];
        java.util.Arrays.fill(dispatched, -1);
        this.absorbed = new long[control.maxClients()][3];
        this.absorbedOwner = new long[control.maxClients()];
        for (int c = 0; c < control.maxClients(); c++) {
            absorbedOwner[c] = control.owner(c);
            absorbed[c][0] = control.clientHits(c); // counted by the sidecar that ran before
            absorbed[c][1] = control.clientDirtyLines(c);
            absorbed[c][2] = control.clientDirtyWords(c);
        }
        RecoveredFrames recovered = reattached ? recover() : new RecoveredFrames(0, 0, 0);
        region.guard(control::frameInUse);

        this.registry = eo.registry() != null ? eo.registry() : new CollectorRegistry(true);
        this.io = EventLoops.group(1, "farmem-sidecar-io");
        this.loop = io.next();
        this.pollNanos = TimeUnit.MICROSECONDS.toNanos(options.pollMicros());
        this.sharedUntil = System.nanoTime(); // nanoTime has an arbitrary origin: "already past", not 0
        control.polling(false); // a sidecar that crashed while polling left it set
        this.ownedTransport = eo.transport() == null ? new NettyTransport(TcpOptions.defaults(), io) : null;
        this.workers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "farmem-sidecar-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            this.metrics = new ClientMetrics(binding.claim(), frames * blockSize, registry);
            this.engine = newEngine(binding, metrics);
            this.doorbells = new DoorbellServer(dir, control, io, this::serveSlot);
        } catch (IOException | RuntimeException e) {
            if (engine != null) engine.close();
            if (ownedTransport != null) ownedTransport.close();
            io.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdown();
            throw e;
        }
        countDirty();
        if (reattached) {
            LOG.info("re-attached to {} for claim {}: dropped {} frames a crash left half loaded, re-dirtied {} frames whose write-back was "
                    + "in flight, {} dirty lines to write back", dir, binding.claim(), recovered.dropped, recovered.redirtied,
                    metrics.dirtyLines.sum());
        }
        long epoch = control.nextEpoch();
        control.heartbeat(System.currentTimeMillis());
        control.state(SharedControl.STATE_RUNNING);
        this.housekeeper = new Thread(this::runHousekeeper, "farmem-sidecar-housekeeper");
        housekeeper.setDaemon(true);
        housekeeper.start();
        LOG.info("sidecar for claim {} serves {} (epoch {}, {} frames of {} bytes)", binding.claim(), dir, epoch, frames, blockSize);
    }

    /**
     * Starts a sidecar for {@code binding} over {@code options.directory()}; re-attaches to the
     * region left there by a sidecar of the same claim and geometry, or starts a fresh one.
     */
    public static Sidecar start(Binding binding, SidecarOptions options) {
        try {
            return new Sidecar(binding, options);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot set up the shared memory in " + options.directory() + ": " + e.getMessage(), e);
        }
    }

    /** The control file a previous sidecar of the same claim and geometry left, or null to start fresh. */
    private static SharedControl previous(Path controlFile, Binding binding, int blockSize, int frames, SidecarOptions options)
            throws IOException {
        if (!Files.exists(controlFile) || Files.size(controlFile) < 4096) return null;
        SharedControl old = SharedControl.existing(SharedControl.map(controlFile, Files.size(controlFile)));
        if (old == null) return null;
        waitForPreviousSidecarToStop(old, controlFile, options);
        boolean same = old.claimUid().equals(binding.claimUid() == null ? "" : binding.claimUid())
                && old.blockSize() == blockSize && old.frames() == frames && old.claimSize() == binding.sizeBytes()
                && old.maxClients() == options.maxClients() && old.threadsPerClient() == options.threadsPerClient();
        if (same) return old;
        long now = System.currentTimeMillis();
        for (int c = 0; c < old.maxClients(); c++) {
            if (old.owner(c) != 0 && now - old.clientHeartbeat(c) <= old.leaseTimeoutMillis()) {
                throw new IllegalStateException("the shared memory in " + controlFile.getParent() + " holds the cache of claim "
                        + old.claim() + " with another geometry, and application process " + old.pid(c)
                        + " still uses it: stop its applications or give this sidecar another --shm directory");
            }
        }
        return null;
    }

    private static void waitForPreviousSidecarToStop(SharedControl old, Path controlFile, SidecarOptions options) {
        long self = ProcessHandle.current().pid();
        long deadline = System.currentTimeMillis() + options.sidecarTimeoutMillis() * 2;
        while (old.state() == SharedControl.STATE_RUNNING && old.sidecarPid() != self
                && System.currentTimeMillis() - old.heartbeat() <= options.sidecarTimeoutMillis()
                && !SharedControl.surelyDead(old.sidecarPid(), old.sidecarPidNamespace(), old.sidecarStart(), MY_PID_NAMESPACE)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("another farmem sidecar (pid " + old.sidecarPid() + ") serves "
                        + controlFile.getParent() + ": stop it first or use another --shm directory");
            }
            LockSupport.parkNanos(50_000_000);
        }
    }

    private record RecoveredFrames(int dropped, int redirtied, int unpinned) {}

    /**
     * The previous sidecar died: frames it was loading are dropped (their data is incomplete),
     * frames whose write-back was in flight are marked wholly dirty (the dirty mask it took is
     * gone and the agents may not have the lines), its pins are released, and the block table
     * is rebuilt from the frames' tags (it may have died inside a table change).
     */
    private RecoveredFrames recover() {
        int dropped = 0;
        int redirtied = 0;
        int unpinned = 0;
        int lines = region.linesPerBlock();
        for (int f = 0; f < region.frameCount(); f++) {
            int s = region.state(f);
            long v = region.versionPlain(f);
            if ((v & 1) != 0) {
                region.setTag(f, 0);
                for (int w = 0; w < region.maskWords(); w++) region.takeMask(f, w);
                region.endChange(f);
                dropped++;
            } else if ((s & CacheRegion.WRITEBACK) != 0 && region.tag(f) != 0) {
                for (int w = 0; w < region.maskWords(); w++) region.orMask(f, w, DirtyLineMask.bitsInWord(w, 0, lines));
                redirtied++;
            }
            if ((s & CacheRegion.PIN_MASK) != 0) unpinned++;
            region.setState(f, 0);
        }
        region.rebuildTable();
        return new RecoveredFrames(dropped, redirtied, unpinned);
    }

    /** Adds the dirty lines and mask words found in the region to the metrics the flusher watches. */
    private void countDirty() {
        long lines = 0;
        long words = 0;
        for (int f = 0; f < region.frameCount(); f++) {
            for (int w = 0; w < region.maskWords(); w++) {
                long m = region.maskWord(f, w);
                if (m != 0) {
                    words++;
                    lines += Long.bitCount(m);
                }
            }
        }
        metrics.dirtyLines.add(lines - metrics.dirtyLines.sum());
        metrics.dirtyWords.add(words - metrics.dirtyWords.sum());
    }

    private CacheEngine newEngine(Binding b, ClientMetrics m) {
        FarMemoryOptions eo = options.engine();
        Transport transport = ownedTransport != null ? ownedTransport : eo.transport().get();
        ReplicaRouter router = new ReplicaRouter(b, transport, m.replicaFailures, eo.requestTimeoutMillis());
        try {
            return new CacheEngine(region, router, m, b.claim(), b.sizeBytes(), b.slabSize(), eo.trackingGranularity(),
                    eo.prefetchDepth(), eo.backgroundFlusher(), eo.flusherLowWatermark());
        } catch (RuntimeException e) {
            router.close();
            throw e;
        }
    }

    public Path directory() { return dir; }
    public String claim() { return binding.claim(); }
    /** True if this sidecar took over a region a previous sidecar left (and recovered it). */
    public boolean reattached() { return reattached; }
    /** Leases of dead application processes reclaimed so far. */
    public int reclaimedClients() { return reclaimedClients.get(); }
    public ClientMetrics.Snapshot stats() { return metrics.snapshot(); }
    public CollectorRegistry registry() { return registry; }
    CacheRegion region() { return region; }
    /** Wake-ups sent to application threads that slept on their doorbells. */
    long wakesSent() { return doorbells.wakes(); }

    /** Application processes holding a lease now. */
    public int attachedClients() {
        int n = 0;
        for (int c = 0; c < control.maxClients(); c++) if (control.owner(c) != 0) n++;
        return n;
    }

    /** Writes back every dirty line in the shared cache, whoever wrote it. */
    public void flush() {
        ReentrantReadWriteLock.ReadLock l = engineLock.readLock();
        l.lock();
        try {
            engine.flush();
        } finally {
            l.unlock();
        }
    }

    // ---- requests ----------------------------------------------------------------------

    /**
     * On the event loop: starts the new request of {@code slot}, if it has one (a bell rang, or
     * the housekeeper looks). A miss starts here without blocking (the loop that reads the memory
     * nodes' responses answers it); a flush goes to a worker.
     */
    private void serveSlot(int slot) {
        if (!running || control.owner(slot / control.threadsPerClient()) <= 0) return;
        long seq = control.requestSeq(slot);
        if (seq == dispatched[slot] || seq == control.responseSeq(slot)) return;
        dispatched[slot] = seq;
        if (pollNanos > 0) {
            if (slot != lastSlot) { // a second thread: polling would take the core the threads share
                if (lastSlot >= 0) sharedUntil = System.nanoTime() + SHARED_NANOS;
                lastSlot = slot;
            }
            keepPolling();
        }
        if (control.op(slot) == SharedControl.OP_MISS) startMiss(slot, seq);
        else workers.execute(() -> serve(slot, seq));
    }

    /**
     * On the event loop, after it started or answered a request: keeps polling the slots and its
     * connections while the one miss it started is being fetched, and for {@code pollNanos}
     * after the last request or answer. The node's answer finds this loop awake, and a thread
     * that asks meanwhile (a miss after a miss) rings no bell: neither waits for this thread to
     * be woken from its select, which on a virtual machine costs about a third of a miss. It
     * polls only for a thread that has the sidecar to itself: with two misses out, or requests
     * from two threads in the last {@link #SHARED_NANOS}, the threads keep the loop busy anyway,
     * and a loop that never sleeps took a core from them (two threads on 2 cores made a third of
     * their misses). The flag in the control file tells applications; clearing it is followed by
     * one more look (Dekker with the application's post, then read).
     */
    private void keepPolling() {
        long now = System.nanoTime();
        if (fetching.get() > 0 || now - sharedUntil < 0) return; // threads share the sidecar: no polling
        pollUntil = now + pollNanos;
        if (polling) return;
        polling = true;
        control.polling(true);
        loop.execute(poll);
    }

    private void poll() {
        serveAllSlots();
        int out = fetching.get();
        long now = System.nanoTime();
        if (running && out <= 1 && now - sharedUntil >= 0 && (out == 1 || now - pollUntil < 0)) {
            loop.execute(poll); // the loop runs its I/O (a non-blocking select) between tasks
            return;
        }
        polling = false;
        control.polling(false); // full fence, then one more look: a request posted before this saw the flag set and rang no bell
        serveAllSlots();
    }

    /** On the event loop: serves every request no bell announced (posted while the sidecar restarted, say). */
    private void serveAllSlots() {
        for (int c = 0; c < control.maxClients(); c++) {
            if (control.owner(c) <= 0) continue;
            int used = Math.min(control.threadsUsed(c), control.threadsPerClient());
            for (int t = 0; t < used; t++) serveSlot(control.slot(c, t));
        }
    }

    /**
     * A miss, without blocking the event loop: a hit or a started fetch is answered by whichever
     * thread completes it; a miss that must wait is served on a worker by the engine itself.
     * While the binding is being reloaded, or when a fetch failed because it was, the request
     * goes to a worker, which waits for the new engine.
     */
    private void startMiss(int slot, long seq) {
        ReentrantReadWriteLock.ReadLock l = engineLock.readLock();
        if (!l.tryLock()) {
            workers.execute(() -> serve(slot, seq));
            return;
        }
        try {
            CacheEngine e = engine;
            long block = checkedBlock(slot);
            int h = checkedHazard(slot);
            CompletableFuture<Integer> pinned;
            fetching.incrementAndGet();
            try {
                pinned = e.pinAsync(block, workers);
            } catch (RuntimeException thrown) { // the miss is not out: a count left behind would keep the loop polling
                fetching.decrementAndGet();
                throw thrown;
            }
            pinned.whenComplete((f, err) -> {
                fetching.decrementAndGet();
                if (err == null) answerMiss(slot, seq, h, f, e);
                else if (reloading || engine != e) workers.execute(() -> serve(slot, seq));
                else fail(slot, seq, err instanceof java.util.concurrent.CompletionException && err.getCause() != null ? err.getCause() : err);
            });
        } catch (RuntimeException e) {
            fail(slot, seq, e);
        } finally {
            l.unlock();
        }
    }

    /** On a worker: may block (a flush, a miss that waits, or one that came during a reload). */
    private void serve(int slot, long seq) {
        ReentrantReadWriteLock.ReadLock l = engineLock.readLock();
        l.lock();
        try {
            switch (control.op(slot)) {
                case SharedControl.OP_MISS -> {
                    long block = checkedBlock(slot);
                    int h = checkedHazard(slot);
                    answerMiss(slot, seq, h, engine.pin(block), engine);
                }
                case SharedControl.OP_FLUSH -> {
                    absorbClientCounters(); // an application about to close published its final counts
                    engine.flush();
                    respond(slot, seq, 0, null);
                }
                default -> respond(slot, seq, SharedControl.RESULT_ERROR, "unknown request " + control.op(slot)
                        + ": the application's farmem version does not match the sidecar's");
            }
        } catch (RuntimeException e) {
            fail(slot, seq, e);
        } finally {
            l.unlock();
        }
    }

    private long checkedBlock(int slot) {
        long block = control.block(slot);
        if (block < 0 || block >= blockCount) {
            throw new IndexOutOfBoundsException("block " + block + " is outside claim " + binding.claim() + " (" + blockCount + " blocks)");
        }
        return block;
    }

    private int checkedHazard(int slot) {
        int h = control.hazardIndex(slot);
        if (h < 0 || h >= SharedControl.HAZARDS) throw new IllegalArgumentException("hazard index " + h + " is not in 0.." + (SharedControl.HAZARDS - 1));
        return h;
    }

    /**
     * Hands frame {@code f} (pinned by us) to the application: publishes it in the request's
     * hazard, answers, then drops our pin, so the frame is covered from fetch to use. A hazard
     * that no longer holds the request's reservation means the application gave up: no answer.
     */
    private void answerMiss(int slot, long seq, int h, int f, CacheEngine e) {
        try {
            long reservation = SharedControl.reservation(seq);
            long current = control.hazard(slot, h);
            if ((current & 0xFFFF_FFFF_0000_0000L) != reservation) return;
            if (!control.casHazard(slot, h, current, reservation | (f + 1L))) return;
            respond(slot, seq, f, null);
        } finally {
            e.unpin(f);
        }
    }

    private void fail(int slot, long seq, Throwable e) {
        respond(slot, seq, SharedControl.RESULT_ERROR, e.getMessage() != null ? e.getMessage() : e.toString());
    }

    /** Answers in the slot, then wakes its thread if it sleeps (the flag is read after the answer is written: Dekker). */
    private void respond(int slot, long seq, int result, String message) {
        control.respond(slot, seq, result, message);
        if (control.waiting(slot)) doorbells.wake(slot);
        else if (pollNanos > 0 && loop.inEventLoop()) keepPolling(); // the thread spins: its next request may come at once
    }

    // ---- housekeeping ------------------------------------------------------------------

    private void runHousekeeper() {
        long nextBindingCheck = 0;
        while (running) {
            long now = System.currentTimeMillis();
            control.heartbeat(now);
            try {
                io.execute(this::serveAllSlots);
                absorbClientCounters();
                reclaimDeadClients(now);
                publishStats();
                if (options.bindingPath() != null && now >= nextBindingCheck && !reloading) {
                    nextBindingCheck = now + options.bindingPollMillis();
                    checkBinding();
                }
            } catch (RuntimeException e) {
                LOG.warn("sidecar housekeeping failed: {}", e.toString());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(HOUSEKEEPING_MILLIS));
        }
    }

    /** Adds what the applications counted since the last time to the metrics (housekeeper, and every flush). */
    private synchronized void absorbClientCounters() {
        ClientMetrics m = metrics;
        for (int c = 0; c < control.maxClients(); c++) {
            long owner = control.owner(c);
            if (owner != absorbedOwner[c]) { // a new process took the lease: its counters start at zero
                absorbedOwner[c] = owner;
                java.util.Arrays.fill(absorbed[c], 0);
            }
            if (owner <= 0) continue;
            m.hits.add(delta(c, 0, control.clientHits(c)));
            m.dirtyLines.add(delta(c, 1, control.clientDirtyLines(c)));
            m.dirtyWords.add(delta(c, 2, control.clientDirtyWords(c)));
        }
    }

    private long delta(int c, int k, long total) {
        long d = Math.max(0, total - absorbed[c][k]);
        absorbed[c][k] = Math.max(absorbed[c][k], total);
        return d;
    }

    /**
     * An application that is gone loses its lease: its hazards are cleared so eviction may take
     * those frames again. Its dirty lines stay in the cache and are written back like any other.
     * In the sidecar's PID namespace (shareProcessNamespace, or one machine) a dead process is
     * seen at once and a live one is never reclaimed, however late its heartbeat; elsewhere a
     * heartbeat older than the lease timeout means gone.
     */
    private void reclaimDeadClients(long now) {
        for (int c = 0; c < control.maxClients(); c++) {
            long owner = control.owner(c);
            if (owner <= 0 || control.processStart(c) == 0) continue; // free, or still being taken
            long pid = control.pid(c);
            long ns = control.pidNamespace(c);
            boolean gone = ns != 0 && ns == MY_PID_NAMESPACE
                    ? SharedControl.surelyDead(pid, ns, control.processStart(c), MY_PID_NAMESPACE)
                    : now - control.clientHeartbeat(c) > options.leaseTimeoutMillis();
            if (!gone || !control.casOwner(c, owner, -1)) continue;
            for (int t = 0; t < control.threadsPerClient(); t++) {
                int slot = control.slot(c, t);
                for (int i = 0; i < SharedControl.HAZARDS; i++) control.hazard(slot, i, 0L);
                control.settle(slot);
                control.freeSlot(slot);
            }
            control.resetThreadsUsed(c);
            control.process(c, 0, 0, 0);
            control.owner(c, 0);
            reclaimedClients.incrementAndGet();
            LOG.warn("application process {} of claim {} stopped without closing (no heartbeat for {} ms): its lease and frames are reclaimed",
                    pid, binding.claim(), now - control.clientHeartbeat(c));
        }
    }

    private void publishStats() {
        ClientMetrics.Snapshot s = metrics.snapshot();
        long[] v = {s.hits(), s.misses(), s.evictions(), s.prefetches(), s.fetchedBytes(), s.writtenBackBytes(),
            s.writtenBackLines(), s.lineIdealBytes(), s.pageEquivalentBytes(), s.writebackErrors(), s.replicaFailures(), s.dirtyBytes()};
        for (int i = 0; i < v.length; i++) control.stat(i, v[i]);
    }

    private void checkBinding() {
        Binding fresh;
        try {
            fresh = Binding.read(options.bindingPath());
        } catch (IllegalArgumentException e) {
            LOG.warn("binding {} cannot be used, keeping the current one: {}", options.bindingPath(), e.getMessage());
            return;
        }
        Binding current = binding;
        if (fresh.equals(current) || fresh.equals(rejectedBinding)) return;
        if (!java.util.Objects.equals(fresh.claimUid(), current.claimUid()) || fresh.sizeBytes() != current.sizeBytes()
                || fresh.blockSize() != current.blockSize() || fresh.slabSize() != current.slabSize()) {
            LOG.error("binding {} now describes another claim ({} uid {}, {} bytes): this sidecar keeps serving claim {}; restart the pod "
                    + "to use the new claim", options.bindingPath(), fresh.claim(), fresh.claimUid(), fresh.sizeBytes(), current.claim());
            rejectedBinding = fresh;
            return;
        }
        reloading = true;
        workers.execute(() -> {
            try {
                reload(fresh);
            } finally {
                reloading = false;
            }
        });
    }

    /**
     * New tokens (or endpoints) for the same claim: the engine is rebuilt over the same region
     * with new connections. Dirty lines the old tokens could not write back stay dirty and go
     * out with the new ones.
     */
    private void reload(Binding fresh) {
        ReentrantReadWriteLock.WriteLock l = engineLock.writeLock();
        l.lock();
        try {
            CacheEngine old = engine;
            ClientMetrics oldMetrics = metrics;
            try {
                old.close();
            } catch (RuntimeException e) {
                LOG.info("write-back with the old tokens failed, the new ones will retry: {}", e.getMessage());
            }
            ClientMetrics m = new ClientMetrics(fresh.claim(), (long) region.frameCount() * region.blockSize(), registry);
            carryOver(oldMetrics, m);
            this.metrics = m;
            this.engine = newEngine(fresh, m);
            this.binding = fresh;
            countDirty();
            LOG.info("binding of claim {} reloaded: epoch {}, {} memory nodes", fresh.claim(), fresh.epoch(), fresh.nodes().size());
        } catch (RuntimeException e) {
            LOG.error("reloading the binding of claim {} failed, requests will fail until it is fixed: {}", fresh.claim(), e.toString());
        } finally {
            l.unlock();
        }
    }

    private static void carryOver(ClientMetrics from, ClientMetrics to) {
        LongAdder[][] pairs = {
            {from.hits, to.hits}, {from.misses, to.misses}, {from.evictions, to.evictions}, {from.prefetches, to.prefetches},
            {from.fetchedBytes, to.fetchedBytes}, {from.writtenBackBytes, to.writtenBackBytes},
            {from.writtenBackLines, to.writtenBackLines}, {from.lineIdealBytes, to.lineIdealBytes},
            {from.pageEquivalentBytes, to.pageEquivalentBytes}, {from.writebackErrors, to.writebackErrors},
            {from.replicaFailures, to.replicaFailures}};
        for (LongAdder[] p : pairs) p[1].add(p[0].sum());
    }

    /** Stops serving, writes back every dirty line, and marks the sidecar stopped for its applications. */
    @Override
    public void close() {
        if (!running) return;
        running = false;
        doorbells.close(); // no new requests; a sleeping application sees its doorbell close and looks at the state
        housekeeper.interrupt();
        try {
            housekeeper.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        workers.shutdown();
        try {
            workers.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        RuntimeException failure = null;
        ReentrantReadWriteLock.WriteLock l = engineLock.writeLock();
        l.lock();
        try {
            engine.close();
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            l.unlock();
            control.stopReason(failure == null ? "stopped cleanly, every dirty line written back" : "stopped; the last write-back failed: "
                    + failure.getMessage());
            control.state(SharedControl.STATE_STOPPED);
            if (ownedTransport != null) ownedTransport.close();
            io.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
        if (failure != null) throw failure;
    }
}
