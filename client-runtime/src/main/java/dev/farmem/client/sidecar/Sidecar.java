package dev.farmem.client.sidecar;

import dev.farmem.client.BindingWatch;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.engine.BoundTransports;
import dev.farmem.client.engine.CacheEngine;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.client.engine.CurrentRouter;
import dev.farmem.client.engine.ReplicaRouter;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.Transport;
import dev.farmem.transport.Transports;
import dev.farmem.transport.tcp.EventLoops;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import io.netty.channel.EventLoopGroup;
import io.prometheus.client.CollectorRegistry;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar: owns the connections and tokens of one claim, and runs the one cache engine
 * ({@link CacheEngine}) over a cache region mapped from a file in a shared-memory directory.
 * Application processes ({@link SidecarClient}) map the same region, serve their hits and set
 * their dirty bits themselves, and ask for misses and flushes through their request slots.
 *
 * <p>This class only builds the parts and stops them, in order; each part does one job on one
 * thread (as an Aeron conductor's agents do), and says which:
 * <table>
 * <caption>The parts of a sidecar</caption>
 * <tr><th>part</th><th>job</th><th>thread</th></tr>
 * <tr><td>{@link SharedFiles}</td><td>the control file and cache region: take over or make fresh, publish who runs</td>
 *     <td>the starting thread, once</td></tr>
 * <tr><td>{@link CrashRecovery}</td><td>make a region a dead sidecar left fit to serve, losing no written line</td>
 *     <td>the starting thread, once</td></tr>
 * <tr><td>{@link RequestDispatcher}</td><td>doorbells, the slots' requests, starting misses, polling instead of sleeping</td>
 *     <td>the event loop {@code farmem-sidecar-io} (also the memory nodes' connections)</td></tr>
 * <tr><td>{@link BlockingRequests}</td><td>flushes and misses that must wait</td><td>workers {@code farmem-sidecar-worker}</td></tr>
 * <tr><td>{@link Housekeeper}</td><td>heartbeat, applications' counters, dead applications' leases, published stats</td>
 *     <td>{@code farmem-sidecar-housekeeper}</td></tr>
 * <tr><td>{@link BindingWatch} with {@link CurrentRouter}</td><td>follow the binding: renewed tokens, a heal's new
 *     epoch (the engine's router moves, as in-process)</td><td>{@code farmem-binding-<claim>}</td></tr>
 * </table>
 * The engine itself is shared through {@link CurrentEngine} (a read-write lock), the
 * applications' counters through {@link ClientCounters}; whether a sidecar runs is decided by
 * {@link SidecarLiveness} alone. Started again over the same directory, a sidecar re-attaches to
 * the region and writes back every dirty line it finds there.
 */
public final class Sidecar implements AutoCloseable {

    static final String REGION_FILE = SharedFiles.REGION_FILE;
    private static final Logger LOG = LoggerFactory.getLogger(Sidecar.class);

    private final SidecarOptions options;
    private final SharedFiles files;
    private final CollectorRegistry registry;
    /** The transports of the bindings followed, with the mapped region registered. */
    private final BoundTransports transports;
    private final EventLoopGroup io;
    private final ExecutorService workers;
    private final CurrentEngine current;
    private final RequestDispatcher dispatcher;
    private final Housekeeper housekeeper;
    private volatile boolean running = true;

    private Sidecar(Binding binding, SidecarOptions options) throws IOException {
        binding.validate();
        this.options = options;
        FarMemoryOptions eo = options.engine();
        int blockSize = binding.blockSize();
        long claimBlocks = binding.sizeBytes() / blockSize;
        long frames = Math.min(eo.cacheBytes() / blockSize, claimBlocks);
        if (frames < Math.min(16, claimBlocks)) {
            throw new IllegalArgumentException("a cache of " + eo.cacheBytes() + " bytes holds fewer than 16 blocks of "
                    + blockSize + " bytes: give at least " + 16L * blockSize);
        }
        this.files = SharedFiles.open(binding, Math.toIntExact(frames), options);
        SharedControl control = files.control;
        CacheRegion region = files.region;
        ClientCounters counters = new ClientCounters(control); // before anything counts: what a previous sidecar took stays taken
        CrashRecovery.Recovered recovered = files.reattached ? CrashRecovery.recover(region) : CrashRecovery.Recovered.NOTHING;
        region.guard(control::frameInUse);

        this.registry = eo.registry() != null ? eo.registry() : new CollectorRegistry(true);
        this.io = EventLoops.group(1, "farmem-sidecar-io");
        // Each binding's transport (TCP on the sidecar's own event loop, which the doorbells share, or RDMA where the claim's pool
        // serves it), the mapped region's frames registered with it: RDMA READs land in them in place.
        this.transports = new BoundTransports(binding.claim(), region.buffer(), eo.transport() == null ? null : eo.transport().get(),
                name -> name.equals("tcp") ? new NettyTransport(TcpOptions.defaults(), io) : Transports.open(name, TcpOptions.defaults()));
        try {
            transports.of(binding);
        } catch (RuntimeException e) {
            io.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
        this.workers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "farmem-sidecar-worker");
            t.setDaemon(true);
            return t;
        });
        CacheEngine engine = null;
        try {
            ClientMetrics metrics = new ClientMetrics(binding.claim(), frames * blockSize, registry);
            engine = newEngine(binding, metrics);
            this.current = new CurrentEngine(metrics, engine);
            this.dispatcher = new RequestDispatcher(files.dir, control, current, claimBlocks, counters, io, workers, options.pollMicros());
        } catch (IOException | RuntimeException e) {
            if (engine != null) engine.close();
            transports.close();
            io.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            workers.shutdown();
            throw e;
        }
        CrashRecovery.countDirty(region, current.metrics());
        if (files.reattached) {
            LOG.info("re-attached to {} for claim {}: dropped {} frames a crash left half loaded, re-dirtied {} frames whose write-back was "
                    + "in flight, {} dirty lines to write back", files.dir, binding.claim(), recovered.dropped(), recovered.redirtied(),
                    current.metrics().dirtyLines.sum());
        }
        long epoch = files.running();
        this.housekeeper = new Housekeeper(control, current, counters, dispatcher, options.leaseTimeoutMillis());
        housekeeper.start();
        if (options.bindingPath() != null) current.engine().router().follow(options.bindingPath(), options.bindingPollMillis());
        LOG.info("sidecar for claim {} serves {} (epoch {}, {} frames of {} bytes)", binding.claim(), files.dir, epoch, frames, blockSize);
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

    /** The engine over the shared region, with connections for {@code b}. */
    private CacheEngine newEngine(Binding b, ClientMetrics m) {
        FarMemoryOptions eo = options.engine();
        CurrentRouter router = new CurrentRouter(b, (next, previous) -> new ReplicaRouter(next, transports.of(next), m.replicaFailures, eo.requestTimeoutMillis(),
                previous), eo.requestTimeoutMillis(), eo.requestTimeoutMillis()); // the application waits at most 60 s for the sidecar (SidecarClient)
        try {
            return new CacheEngine(files.region, router, m, b.claim(), b.sizeBytes(), b.slabSize(), eo.trackingGranularity(),
                    eo.prefetchDepth(), eo.backgroundFlusher(), eo.flusherLowWatermark());
        } catch (RuntimeException e) {
            router.close();
            throw e;
        }
    }

    public Path directory() { return files.dir; }
    public String claim() { return current.binding().claim(); }
    /** True if this sidecar took over a region a previous sidecar left (and recovered it). */
    public boolean reattached() { return files.reattached; }
    /** Leases of dead application processes reclaimed so far. */
    public int reclaimedClients() { return housekeeper.reclaimedClients(); }
    public ClientMetrics.Snapshot stats() { return current.metrics().snapshot(); }
    public CollectorRegistry registry() { return registry; }
    CacheRegion region() { return files.region; }
    /** Wake-ups sent to application threads that slept on their doorbells. */
    long wakesSent() { return dispatcher.wakesSent(); }

    /** Application processes holding a lease now. */
    public int attachedClients() {
        SharedControl control = files.control;
        int n = 0;
        for (int c = 0; c < control.maxClients(); c++) if (control.owner(c) != 0) n++;
        return n;
    }

    /** Writes back every dirty line in the shared cache, whoever wrote it. */
    public void flush() {
        current.flush();
    }

    /** Stops serving, writes back every dirty line, and marks the sidecar stopped for its applications. */
    @Override
    public void close() {
        if (!running) return;
        running = false;
        dispatcher.close(); // no new requests; a sleeping application sees its doorbell close and looks at the state
        housekeeper.close();
        workers.shutdown();
        try {
            workers.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        RuntimeException failure = null;
        ReentrantReadWriteLock.WriteLock l = current.writeLock();
        l.lock();
        try {
            current.engine().close();
        } catch (RuntimeException e) {
            failure = e;
        } finally {
            l.unlock();
            files.stopped(failure == null ? "stopped cleanly, every dirty line written back" : "stopped; the last write-back failed: "
                    + failure.getMessage());
            transports.close(); // after the engine: no request reads or writes the frames any more
            io.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
        if (failure != null) throw failure;
    }
}
