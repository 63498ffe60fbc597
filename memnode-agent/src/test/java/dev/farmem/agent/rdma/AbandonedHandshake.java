package dev.farmem.agent.rdma;

import dev.farmem.transport.rdma.DisniRuntime;

/**
 * A peer that starts an rdma_cm handshake and abandons it: its connect request reaches the node, the node accepts
 * (its REP comes back) and the peer never completes (it sends no RTU). What a crashed, stopped or hostile client leaves
 * a node with. Made inside {@link DisniRuntime}'s loader ({@code disni.RawAbandonedHandshake}).
 */
public interface AbandonedHandshake extends AutoCloseable {

    /** Returns once the node has accepted the connect request, that is, once the node waits for the handshake to end. */
    static AbandonedHandshake start(String host, int port, long timeoutMillis) {
        return DisniRuntime.create(AbandonedHandshake.class, "dev.farmem.agent.rdma.disni.RawAbandonedHandshake",
                new Class<?>[] {String.class, int.class, long.class}, host, port, timeoutMillis);
    }

    /** Destroys the rdma_cm id (the node has dropped its side long before, when the handshake timed out). */
    @Override
    void close();
}
