package dev.farmem.transport;

import dev.farmem.common.Endpoint;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * One authenticated connection to one memory node. Thread-safe; many requests may be in flight
 * at once and complete out of order. Slab numbers are the node's own (remote) slab numbers, as
 * granted by the token presented at connect.
 *
 * <p>Back-pressure: when the bytes in flight on this connection reach the configured bound, a
 * call blocks its caller until responses free room (or fails after the request timeout). A call
 * made from a completion callback never blocks (it would wait on the thread that frees room).
 *
 * <p>Futures complete on the transport's I/O thread: stages chained on them must not block
 * (no {@code join()} inside {@code thenApply}); use the {@code *Async} variants to move work off it.
 * A failed future carries a {@link TransportException} whose code says why.
 */
public interface MemoryNodeConnection extends AutoCloseable {

    /**
     * One-sided READ: copies {@code dst.remaining()} bytes from {@code (slab, offset)} of the
     * node's region into {@code dst}, from its position. The future completes when the bytes are
     * in {@code dst}; the caller must not touch that range of {@code dst} until then. The
     * position and limit of {@code dst} are not changed. A {@code dst} inside memory registered
     * with the transport ({@link Transport#register}) is read into with no copy over RDMA.
     */
    CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst);

    /**
     * One-sided WRITE of a scatter list into one slab, as one request. The bytes of every
     * segment are read from their source buffers before this method returns, so the caller may
     * reuse them at once (a write from a cache frame with no copy over RDMA is
     * {@link #writev(int, WriteBatch, Runnable)}). A
     * batch longer than one request of the transport holds is split and completes when every part is
     * in; a failure fails it once. The future completes when the node acknowledged that all segments
     * are in its region: from then on a read returns them.
     */
    CompletableFuture<Void> writev(int slab, WriteBatch batch);

    /**
     * The same WRITEV, except that the transport may go on reading the sources after this method returns: it runs
     * {@code sourcesReleased} once, when it will not read them again, and only from then on may the caller reuse or
     * change them (and the batch). Over TCP that is before this method returns (the bytes are copied out, as
     * {@link #writev(int, WriteBatch)} does); over RDMA, sources inside memory registered with the transport
     * ({@link Transport#register}, a cache's region) are what the NIC WRITEs from, with no copy, and are released at the
     * completion of the chain's last, signaled WRITE, which is also the node's acknowledgement (if the connection fails
     * first: once its queue pair is destroyed, so the NIC cannot read them any more). Other sources are copied, as ever.
     * {@code sourcesReleased} runs exactly once, also when this method throws, and before the returned future completes
     * when the write succeeds; it may run on the transport's I/O thread and must not block.
     */
    default CompletableFuture<Void> writev(int slab, WriteBatch batch, Runnable sourcesReleased) {
        CompletableFuture<Void> f;
        try {
            f = writev(slab, batch);
        } finally {
            sourcesReleased.run(); // copied before writev returned, or not taken at all
        }
        return f;
    }

    /** Round trip to the node; completes with the round-trip time in nanoseconds. */
    CompletableFuture<Long> ping();

    /** The endpoint this connection reaches. */
    Endpoint endpoint();

    /** False once the connection closed or failed; every pending request has then failed. */
    boolean isOpen();

    /** Closes the connection; pending requests fail with a {@link TransportException}. */
    @Override
    void close();
}
