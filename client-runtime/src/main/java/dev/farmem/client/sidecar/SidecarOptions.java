package dev.farmem.client.sidecar;

import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.engine.BlockCache;
import java.nio.file.Path;

/**
 * How a {@link Sidecar} runs: where the shared memory lives, how many application processes
 * and threads it serves, how fast dead peers are noticed, and the cache engine's own options.
 */
public final class SidecarOptions {

    private Path directory = Path.of("/dev/shm/farmem");
    private Path bindingPath;
    private int maxClients = 16;
    private int threadsPerClient = 64;
    private long leaseTimeoutMillis = 10_000;
    private long sidecarTimeoutMillis = 5_000;
    private long bindingPollMillis = 1_000;
    /** Default poll window: twice as long as a waiting application spins, to catch its next request on a busy machine. */
    static final long DEFAULT_POLL_MICROS = 2 * BlockCache.MISS_SPIN_NANOS / 1_000;

    private long pollMicros = DEFAULT_POLL_MICROS;
    private FarMemoryOptions engine = FarMemoryOptions.defaults();

    public static SidecarOptions defaults() {
        return new SidecarOptions();
    }

    /** The shared-memory directory: a tmpfs such as /dev/shm, or an emptyDir with medium Memory. */
    public SidecarOptions directory(Path dir) {
        this.directory = dir;
        return this;
    }

    /** The binding file or mounted Secret directory, watched so new tokens are used without a restart. */
    public SidecarOptions bindingPath(Path path) {
        this.bindingPath = path;
        return this;
    }

    /**
     * How long the sidecar's event loop keeps polling after its last request or answer; it also
     * polls while a miss it started is being fetched (default 100 us, twice as long as a waiting
     * application thread spins). A thread that asks while it polls rings no doorbell, and a
     * node's answer finds the loop awake; the price is that core, busy while misses come faster
     * than this ({@code ./farmem bench sidecar} reports the CPU per miss). 0: never poll, every
     * request rings its doorbell and the loop sleeps between events.
     */
    public SidecarOptions pollMicros(long micros) {
        if (micros < 0 || micros > 10_000) throw new IllegalArgumentException("poll time must be in 0..10000 us, got " + micros);
        this.pollMicros = micros;
        return this;
    }

    public long pollMicros() {
        return pollMicros;
    }

    /** Application processes served at once (default 16). */
    public SidecarOptions maxClients(int n) {
        if (n < 1 || n > 1024) throw new IllegalArgumentException("max clients must be in 1..1024, got " + n);
        this.maxClients = n;
        return this;
    }

    /** Threads of one application that may use far memory at once (default 64). */
    public SidecarOptions threadsPerClient(int n) {
        if (n < 1 || n > 4096) throw new IllegalArgumentException("threads per client must be in 1..4096, got " + n);
        this.threadsPerClient = n;
        return this;
    }

    /** How long an application may miss its heartbeat before its lease and hazards are reclaimed (default 10 s; only without a shared PID namespace). */
    public SidecarOptions leaseTimeoutMillis(long millis) {
        if (millis < 200) throw new IllegalArgumentException("lease timeout must be at least 200 ms, got " + millis);
        this.leaseTimeoutMillis = millis;
        return this;
    }

    /** How long applications wait for a silent sidecar before failing misses and flushes (default 5 s; a sidecar in the same PID namespace is seen dead at once). */
    public SidecarOptions sidecarTimeoutMillis(long millis) {
        if (millis < 200) throw new IllegalArgumentException("sidecar timeout must be at least 200 ms, got " + millis);
        this.sidecarTimeoutMillis = millis;
        return this;
    }

    /** How often the binding is checked for new tokens (default 1 s). */
    public SidecarOptions bindingPollMillis(long millis) {
        if (millis < 10) throw new IllegalArgumentException("binding poll interval must be at least 10 ms, got " + millis);
        this.bindingPollMillis = millis;
        return this;
    }

    /** Cache size, tracking granularity, prefetch, flusher, timeouts, metrics registry and transport. */
    public SidecarOptions engine(FarMemoryOptions options) {
        this.engine = options;
        return this;
    }

    public Path directory() { return directory; }
    public Path bindingPath() { return bindingPath; }
    public int maxClients() { return maxClients; }
    public int threadsPerClient() { return threadsPerClient; }
    public long leaseTimeoutMillis() { return leaseTimeoutMillis; }
    public long sidecarTimeoutMillis() { return sidecarTimeoutMillis; }
    public long bindingPollMillis() { return bindingPollMillis; }
    public FarMemoryOptions engine() { return engine; }
}
