package dev.farmem.transport;

import java.util.concurrent.CompletableFuture;

/**
 * A way to reach memory nodes: TCP (Netty) or RDMA (DiSNI).
 *
 * <p>The operations of a {@link MemoryNodeConnection} are one-sided: the memory node's CPU does
 * not interpret the data, it only places bytes, so each maps one to one onto an RDMA verb
 * (READ, a chain of WRITEs with a scatter list, a completion). The TCP transport emulates them.
 */
public interface Transport extends AutoCloseable {

    /** {@code tcp} or {@code rdma}. */
    String name();

    /**
     * Opens a connection to a memory node and presents a capability token (HELLO). The future
     * completes once the node accepted the token, or fails with a {@link TransportException}
     * whose code says why (a wrong token is {@code UNAUTHENTICATED}, an old epoch is {@code FENCED}).
     */
    CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token);

    /** Closes every connection this transport opened and releases its threads. */
    @Override
    void close();
}
