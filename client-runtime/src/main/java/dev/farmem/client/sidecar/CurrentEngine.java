package dev.farmem.client.sidecar;

import dev.farmem.client.engine.CacheEngine;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.common.binding.Binding;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The engine the sidecar serves with now, with its metrics and binding: replaced as one when new
 * tokens arrive ({@link BindingReloader}). Whoever uses the engine holds the read lock (requests,
 * flushes); the reloader and {@code close} hold the write lock. The fields are volatile so that
 * a reader that must not block (the event loop, with {@code tryLock}) and the housekeeper, which
 * only reads metrics, see the latest.
 */
final class CurrentEngine {

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private volatile Binding binding;
    private volatile ClientMetrics metrics;
    private volatile CacheEngine engine;
    private volatile boolean reloading;

    CurrentEngine(Binding binding, ClientMetrics metrics, CacheEngine engine) {
        this.binding = binding;
        this.metrics = metrics;
        this.engine = engine;
    }

    ReentrantReadWriteLock.ReadLock readLock() { return lock.readLock(); }
    ReentrantReadWriteLock.WriteLock writeLock() { return lock.writeLock(); }

    Binding binding() { return binding; }
    ClientMetrics metrics() { return metrics; }
    CacheEngine engine() { return engine; }

    /** True while a reload is under way: a miss that failed meanwhile is retried with the new engine. */
    boolean reloading() { return reloading; }

    void reloading(boolean on) { reloading = on; }

    /** Replaces all three; only under the write lock (checked). */
    void replace(Binding b, ClientMetrics m, CacheEngine e) {
        if (!lock.isWriteLockedByCurrentThread()) throw new IllegalStateException("the sidecar's engine is replaced only under its write lock");
        this.metrics = m;
        this.engine = e;
        this.binding = b;
    }

    /** The engine's router now presents the renewed tokens of {@code b}; the engine and metrics stay. */
    void tokensRenewed(Binding b) {
        this.binding = b;
    }

    /** Writes back every dirty line in the shared cache, whoever wrote it. */
    void flush() {
        ReentrantReadWriteLock.ReadLock l = lock.readLock();
        l.lock();
        try {
            engine.flush();
        } finally {
            l.unlock();
        }
    }
}
