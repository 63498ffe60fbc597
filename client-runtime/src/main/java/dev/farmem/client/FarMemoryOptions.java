package dev.farmem.client;

import dev.farmem.transport.Transport;
import io.prometheus.client.CollectorRegistry;
import java.util.function.Supplier;

/**
 * How a {@link FarMemory} runs: the local cache budget, the dirty-tracking granularity,
 * prefetch, the background flusher, where metrics go and which transport to use. Every setter
 * checks its value and says what is allowed.
 */
public final class FarMemoryOptions {

    private long cacheBytes = 64L << 20;
    private int trackingGranularity = 64;
    private int prefetchDepth = 8;
    private boolean backgroundFlusher = true;
    private double flusherLowWatermark = 0.10;
    private long requestTimeoutMillis = 10_000;
    private long bindingPollMillis = 1_000;
    private long bindingWaitMillis = 120_000;
    private CollectorRegistry registry;
    private Supplier<Transport> transport;

    public static FarMemoryOptions defaults() {
        return new FarMemoryOptions();
    }

    /** The local DRAM budget for cached blocks (default 64 MiB); at least 16 blocks. */
    public FarMemoryOptions cacheBytes(long bytes) {
        if (bytes <= 0) throw new IllegalArgumentException("cache size must be positive, got " + bytes);
        this.cacheBytes = bytes;
        return this;
    }

    /**
     * Bytes per dirty bit for write-back: 64 (one cache line, the default) up to the block
     * size (page tracking, the baseline of swap-based systems). A power of two.
     */
    public FarMemoryOptions trackingGranularity(int bytes) {
        if (bytes < 64 || Integer.bitCount(bytes) != 1) {
            throw new IllegalArgumentException("tracking granularity must be a power of two of at least 64 bytes, got " + bytes);
        }
        this.trackingGranularity = bytes;
        return this;
    }

    /** Fetch this many blocks ahead of a sequential stream of misses; 0 turns prefetch off (default 8). */
    public FarMemoryOptions prefetchDepth(int blocks) {
        if (blocks < 0 || blocks > 256) throw new IllegalArgumentException("prefetch depth must be in 0..256, got " + blocks);
        this.prefetchDepth = blocks;
        return this;
    }

    /** Whether a background thread writes back cold dirty frames (default on). */
    public FarMemoryOptions backgroundFlusher(boolean on) {
        this.backgroundFlusher = on;
        return this;
    }

    /** The fraction of frames that may be dirty before the flusher starts writing back (default 0.10). */
    public FarMemoryOptions flusherLowWatermark(double fraction) {
        if (!(fraction >= 0 && fraction <= 1)) throw new IllegalArgumentException("flusher watermark must be in 0..1, got " + fraction);
        this.flusherLowWatermark = fraction;
        return this;
    }

    /** How long opening waits for the memory nodes, and a request for its replicas' answers (default 10 s). */
    public FarMemoryOptions requestTimeoutMillis(long millis) {
        if (millis <= 0) throw new IllegalArgumentException("request timeout must be positive, got " + millis);
        this.requestTimeoutMillis = millis;
        return this;
    }

    /**
     * How long a request the binding could no longer serve (a heal fenced it, or no replica was left) waits for a newer
     * binding in the file before it fails (default 120 s): a kubelet refreshes a mounted binding Secret up to about a
     * minute after the operator wrote it (its sync period plus its Secret cache), and across a heal a request should
     * rather wait that long than fail. In-process only: a sidecar waits its request timeout, because the application
     * waits at most a minute for the sidecar's answer; there a refused write-back stays dirty in the shared frame and
     * goes out once the binding came.
     */
    public FarMemoryOptions bindingWaitMillis(long millis) {
        if (millis <= 0) throw new IllegalArgumentException("binding wait must be positive, got " + millis);
        this.bindingWaitMillis = millis;
        return this;
    }

    /**
     * How often a far memory opened from a binding file reads it for a new binding (default 1 s): renewed tokens, or a
     * heal's new epoch. The operator renews tokens at half their life (minutes), so the default picks them up long before
     * the old ones expire; a node that refuses the binding as outdated makes the far memory read the file at once.
     */
    public FarMemoryOptions bindingPollMillis(long millis) {
        if (millis < 10) throw new IllegalArgumentException("binding poll interval must be at least 10 ms, got " + millis);
        this.bindingPollMillis = millis;
        return this;
    }

    /** Where the {@code farmem_client_*} metrics are registered (default: a fresh registry per far memory). */
    public FarMemoryOptions registry(CollectorRegistry registry) {
        this.registry = registry;
        return this;
    }

    /**
     * The transport to reach memory nodes, in place of the one the binding names; the caller owns
     * it and closes it. Default: the binding's transport ({@code tcp}, or {@code rdma} where the
     * claim's pool serves RDMA), opened by the far memory and closed with it.
     */
    public FarMemoryOptions transport(Supplier<Transport> transport) {
        this.transport = transport;
        return this;
    }

    public long cacheBytes() { return cacheBytes; }
    public int trackingGranularity() { return trackingGranularity; }
    public int prefetchDepth() { return prefetchDepth; }
    public boolean backgroundFlusher() { return backgroundFlusher; }
    public double flusherLowWatermark() { return flusherLowWatermark; }
    public long requestTimeoutMillis() { return requestTimeoutMillis; }
    public long bindingPollMillis() { return bindingPollMillis; }
    public long bindingWaitMillis() { return bindingWaitMillis; }
    public CollectorRegistry registry() { return registry; }
    public Supplier<Transport> transport() { return transport; }
}
