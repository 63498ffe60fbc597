package dev.farmem.client.sidecar;

import dev.farmem.client.engine.CacheEngine;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.common.binding.Binding;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The engine the sidecar serves with, its metrics and a read-write lock: whoever uses the engine
 * holds the read lock (requests, flushes); {@code close} holds the write lock, so the engine is
 * closed only once no request uses it. The engine lives as long as the sidecar: a binding change
 * moves its router to the new binding ({@link dev.farmem.client.engine.CurrentRouter}), as in-process.
 */
final class CurrentEngine {

    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final ClientMetrics metrics;
    private final CacheEngine engine;

    CurrentEngine(ClientMetrics metrics, CacheEngine engine) {
        this.metrics = metrics;
        this.engine = engine;
    }

    ReentrantReadWriteLock.ReadLock readLock() { return lock.readLock(); }
    ReentrantReadWriteLock.WriteLock writeLock() { return lock.writeLock(); }

    /** The binding served now (with its latest tokens). */
    Binding binding() { return engine.router().binding(); }
    ClientMetrics metrics() { return metrics; }
    CacheEngine engine() { return engine; }

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
