package dev.farmem.client.engine;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.transport.Transport;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * What the access path ({@code FarBuffer}) needs from whoever serves the misses of a
 * {@link CacheRegion}: the in-process {@link CacheEngine}, or an application attached to a
 * sidecar over shared memory ({@code dev.farmem.client.sidecar.SidecarClient}). Hits never go
 * through here: they use the threads' translation entries of {@link #hits()}, which count them.
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

    /**
     * Starts the miss of {@code block} without waiting for it, so that one thread can keep many
     * misses in flight (the batched reads and {@code prefetch} of {@code FarBuffer}): the future
     * completes with the frame pinned once for the caller (who must {@link #unpin} it), at once on
     * a hit, otherwise on the transport's thread when the fetch ends. A miss that has to wait (its
     * block is being loaded by another miss, or no clean frame is free) is handed to {@code waiter}
     * as a task that waits like {@link #pin}. Counts one hit or one miss.
     *
     * <p>This default serves the miss before it returns: the sidecar client has one request slot
     * per thread, so a thread attached to a sidecar has one miss in flight at a time.
     */
    default CompletableFuture<Integer> pinAsync(long block, Executor waiter) {
        return CompletableFuture.completedFuture(pin(block));
    }

    /**
     * Holds the misses this thread starts ({@link #pinAsync}) until the scope closes, then sends them together: over
     * TCP one write per memory node for the whole batch ({@link Transport#gather}). Close it before waiting for any of
     * them. This default holds nothing.
     */
    default Transport.Gather gather() {
        return Transport.Gather.NONE;
    }

    /**
     * The first part of every wait for a miss: yields (not a bare spin, see
     * {@link #MISS_SPIN_NANOS}) until {@code miss} is done or about one TCP miss has passed. The
     * caller then blocks in {@link CompletableFuture#join}, which parks ({@code LockSupport.park};
     * a virtual thread unmounts from its carrier, holding no monitor). A virtual thread does not
     * spin at all: parking it costs no system call, and its spinning would keep the carriers from
     * the other virtual threads and the I/O threads that complete the misses.
     */
    static void spinForMiss(CompletableFuture<?> miss) {
        if (VirtualThreads.current()) return;
        long spinUntil = System.nanoTime() + MISS_SPIN_NANOS;
        while (!miss.isDone() && System.nanoTime() - spinUntil < 0) Thread.yield();
    }

    /** Marks bytes {@code [offset, offset + length)} of a pinned frame dirty; call after writing them. */
    void markDirty(int frame, int offset, int length);

    /**
     * The hit counter: its cells are the threads' translation entries of {@link #region()}
     * ({@link ThreadLocalCounter#mine()}), in which an access served by an optimistic read counts
     * itself. {@link #pin} counts its hits there too.
     */
    ThreadLocalCounter hits();

    /** Every write that completed before this call is acknowledged by every live replica when it returns. */
    void flush();

    @Override
    void close();
}
