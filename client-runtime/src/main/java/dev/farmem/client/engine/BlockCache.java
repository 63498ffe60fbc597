package dev.farmem.client.engine;

import dev.farmem.client.cache.CacheRegion;

/**
 * What the access path ({@code FarBuffer}) needs from whoever serves the misses of a
 * {@link CacheRegion}: the in-process {@link CacheEngine}, or an application attached to a
 * sidecar over shared memory ({@code dev.farmem.client.sidecar.SidecarClient}). Hits never go
 * through here except {@link #countHit()}.
 */
public interface BlockCache extends AutoCloseable {

    /**
     * How long a thread waiting for a miss spins before it sleeps: about one miss over TCP. On
     * a virtual machine, waking a sleeping thread costs some 20 us, as much as a third of a miss,
     * so a waiter that spins through a typical miss gets its block sooner (see ./farmem bench
     * sidecar); one that waits longer stops burning its core. Waiters spin by yielding: a bare
     * spin keeps the core from the I/O threads that complete the miss (2 application threads on
     * 2 cores lost a third of their throughput), a yielding one gave 11 to 25 % more than none.
     */
    long MISS_SPIN_NANOS = 50_000;

    CacheRegion region();

    /** Throws {@link IllegalStateException} saying why when the cache can no longer be used. */
    void ensureOpen();

    /** The frame holding {@code block}, held so eviction cannot take it until {@link #unpin}; fetches on a miss. */
    int pin(long block);

    void unpin(int frame);

    /** Marks bytes {@code [offset, offset + length)} of a pinned frame dirty; call after writing them. */
    void markDirty(int frame, int offset, int length);

    /** Counts an access served by an optimistic read. */
    void countHit();

    /** Every write that completed before this call is acknowledged by every live replica when it returns. */
    void flush();

    @Override
    void close();
}
