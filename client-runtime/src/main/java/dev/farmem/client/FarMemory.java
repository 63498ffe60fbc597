package dev.farmem.client;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.engine.BlockCache;
import dev.farmem.client.engine.BoundTransports;
import dev.farmem.client.engine.CacheEngine;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.client.engine.CurrentRouter;
import dev.farmem.client.engine.ReplicaRouter;
import dev.farmem.client.sidecar.SidecarClient;
import dev.farmem.transport.Transport;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.Transports;
import dev.farmem.transport.tcp.TcpOptions;
import io.prometheus.client.CollectorRegistry;
import java.nio.file.Path;
import java.util.List;

/**
 * A claim's far memory, cached in local DRAM. Reads and writes go to the cache; only the
 * 64-byte lines a program changed travel back to the memory nodes.
 *
 * <pre>{@code
 * try (FarMemory mem = FarMemory.open(Path.of("/var/run/farmem/binding"),
 *         FarMemoryOptions.defaults().cacheBytes(256L << 20))) {
 *     FarLongArray counters = mem.longArray(0, 1_000_000);
 *     counters.set(42, counters.get(42) + 1);
 *     mem.flush(); // every write so far is on every replica
 * }
 * }</pre>
 *
 * In a pod with the farmem sidecar ({@code farmem.io/claim} annotation), attach to the cache it
 * shares instead; hits stay in this process, misses and write-back go through the sidecar:
 * <pre>{@code
 * try (FarMemory mem = FarMemory.attach(Path.of("/var/run/farmem/shm"))) { ... }
 * }</pre>
 *
 * Thread-safe. After {@link #close()} every use throws {@link IllegalStateException}.
 */
public final class FarMemory implements AutoCloseable {

    private final String claim;
    private final long size;
    private final int blockSize;
    /** The in-process engine, or the sidecar client in sidecar mode. */
    private final BlockCache engine;
    private final SidecarClient sidecar;
    private final CurrentRouter router;
    private final ClientMetrics metrics;
    /** The transports of the bindings followed, with the cache registered; null in sidecar mode. */
    private final BoundTransports transports;
    private final String transportName;
    private final int trackingGranularity;

    private FarMemory(Binding binding, FarMemoryOptions options) {
        this(binding, options, null);
    }

    /** @param bindingFile where {@code binding} was read, followed from then on; null when it came from no file */
    private FarMemory(Binding binding, FarMemoryOptions options, Path bindingFile) {
        binding.validate();
        int blockSize = binding.blockSize();
        if (options.trackingGranularity() > blockSize) {
            throw new IllegalArgumentException("tracking granularity " + options.trackingGranularity()
                    + " is larger than the block size " + blockSize + ": use at most " + blockSize);
        }
        long claimBlocks = binding.sizeBytes() / blockSize;
        long frames = Math.min(options.cacheBytes() / blockSize, claimBlocks);
        if (frames < Math.min(16, claimBlocks)) {
            throw new IllegalArgumentException("a cache of " + options.cacheBytes() + " bytes holds fewer than 16 blocks of "
                    + blockSize + " bytes: give at least " + 16L * blockSize);
        }
        this.claim = binding.claim();
        this.size = binding.sizeBytes();
        this.blockSize = blockSize;
        this.sidecar = null;
        this.trackingGranularity = options.trackingGranularity();
        CollectorRegistry registry = options.registry() != null ? options.registry() : new CollectorRegistry(true);
        CacheRegion region = CacheRegion.allocate(blockSize, Math.toIntExact(frames), claimBlocks);
        this.metrics = new ClientMetrics(binding.claim(), frames * blockSize, registry);
        CurrentRouter router = null;
        // Each binding's transport (the one it names, or the options' override), the cache's frames registered with it: misses land
        // and write-backs leave from them in place over RDMA.
        this.transports = new BoundTransports(binding.claim(), region.buffer(), options.transport() == null ? null : options.transport().get(),
                name -> Transports.open(name, TcpOptions.defaults()));
        try {
            this.transportName = transports.of(binding).name();
            router = new CurrentRouter(binding, (b, previous) -> new ReplicaRouter(b, transports.of(b), metrics.replicaFailures,
                    options.requestTimeoutMillis(), previous), options.requestTimeoutMillis(), options.bindingWaitMillis());
            this.engine = new CacheEngine(region, router, metrics, binding.claim(), binding.sizeBytes(), binding.slabSize(),
                    options.trackingGranularity(), options.prefetchDepth(), options.backgroundFlusher(),
                    // The region dies with this process: frames are reused once sent (from a copy), unless the transport WRITEs
                    // from them with no copy (RDMA): then once the WRITE completed, which is also the acknowledgement.
                    options.flusherLowWatermark(), !transports.writesWithoutCopy());
        } catch (RuntimeException e) {
            metrics.unregister();
            if (router != null) router.close();
            transports.close();
            throw e;
        }
        this.router = router;
        if (bindingFile != null) router.follow(bindingFile, options.bindingPollMillis()); // last: a failed open leaves no watch running
    }

    private FarMemory(SidecarClient sidecar) {
        this.sidecar = sidecar;
        this.engine = sidecar;
        this.claim = sidecar.claim();
        this.size = sidecar.claimSize();
        this.blockSize = sidecar.region().blockSize();
        this.trackingGranularity = CacheRegion.LINE;
        this.router = null;
        this.metrics = null;
        this.transports = null;
        this.transportName = null;
    }

    /**
     * Attaches to the farmem sidecar that serves the shared-memory directory {@code sharedDir}
     * (the pod's {@code farmem-shm} volume), waiting up to 30 s for it to start.
     */
    public static FarMemory attach(Path sharedDir) {
        return attach(sharedDir, 30_000);
    }

    public static FarMemory attach(Path sharedDir, long waitMillis) {
        return new FarMemory(SidecarClient.attach(sharedDir, waitMillis));
    }

    /** Opens a bound claim with default options. */
    public static FarMemory open(Binding binding) {
        return open(binding, FarMemoryOptions.defaults());
    }

    public static FarMemory open(Binding binding, FarMemoryOptions options) {
        return new FarMemory(binding, options);
    }

    /**
     * Opens the binding in a file, or in a mounted binding Secret directory, and follows it: the file is read again
     * every {@link FarMemoryOptions#bindingPollMillis}, and at once when a memory node refuses the binding as outdated.
     * Renewed tokens (short-lived, minutes) are used on new connections; a heal's new binding (a new epoch, a replica
     * joining, a lost one dropped) gets new connections, and a request the old binding could no longer serve is sent
     * again there. No request fails and no acknowledged write is lost across either, as long as the new binding comes
     * within {@link FarMemoryOptions#requestTimeoutMillis} of the refusal.
     */
    public static FarMemory open(Path binding, FarMemoryOptions options) {
        return new FarMemory(Binding.read(binding), options, binding);
    }

    public static FarMemory open(Path binding) {
        return open(binding, FarMemoryOptions.defaults());
    }

    /** Bytes of far memory (the claim's size). */
    public long size() {
        return size;
    }

    public int blockSize() {
        return blockSize;
    }

    public int trackingGranularity() {
        return trackingGranularity;
    }

    public String claim() {
        return claim;
    }

    /** How this far memory reaches its memory nodes: {@code tcp} or {@code rdma}, or {@code sidecar} in sidecar mode. */
    public String transport() {
        return sidecar != null ? "sidecar" : transportName;
    }

    /** Bytes of local cache. */
    public long cacheBytes() {
        return (long) engine.region().frameCount() * engine.region().blockSize();
    }

    /** The whole far memory as one buffer. */
    public FarBuffer buffer() {
        return buffer(0, size());
    }

    /** The far bytes {@code [offset, offset + length)} as a buffer indexed from 0. */
    public FarBuffer buffer(long offset, long length) {
        engine.ensureOpen();
        if (offset < 0 || length < 0 || offset > size() - length) {
            throw new IndexOutOfBoundsException("far range [" + offset + ", " + (offset + length) + ") is outside the claim of "
                    + size() + " bytes");
        }
        return new FarBuffer(engine, offset, length, size());
    }

    /** {@code count} longs from far address {@code offset}. */
    public FarLongArray longArray(long offset, long count) {
        if (count < 0 || count > (Long.MAX_VALUE >> 3)) throw new IllegalArgumentException("long count " + count + " is not valid");
        return new FarLongArray(buffer(offset, count * 8));
    }

    /**
     * Starts fetching the uncached blocks of far bytes {@code [offset, offset + length)} and
     * returns without waiting for them (see {@link FarBuffer#prefetch}).
     */
    public void prefetch(long offset, long length) {
        buffer(offset, length).prefetch(0, length);
    }

    /** Every write before this call is acknowledged by every live replica when it returns. */
    public void flush() {
        engine.flush();
    }

    /**
     * The counters so far (also exported as {@code farmem_client_*}). In sidecar mode: the
     * sidecar's counters for every application it serves, as of its last publication (100 ms).
     */
    public ClientMetrics.Snapshot stats() {
        if (sidecar != null) {
            long[] s = sidecar.sidecarStats();
            return new ClientMetrics.Snapshot(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11]);
        }
        return metrics.snapshot();
    }

    /** Where this far memory's metrics are registered; in sidecar mode the sidecar exports them and this registry is empty. */
    public CollectorRegistry registry() {
        return sidecar != null ? SIDECAR_MODE_REGISTRY : metrics.registry();
    }

    private static final CollectorRegistry SIDECAR_MODE_REGISTRY = new CollectorRegistry(true);

    /** Memory nodes that failed and are no longer used by this far memory (the sidecar logs its own). */
    public List<String> failedReplicas() {
        return router != null ? router.failedNodes() : List.of();
    }

    /** Flushes and releases the cache and the connections. */
    @Override
    public void close() {
        try {
            engine.close(); // stops following the binding too
        } finally {
            // After the engine: no request that reads or writes the cache's frames is in flight any more.
            if (transports != null) transports.close();
        }
    }
}
