package dev.farmem.agent.rdma;

import dev.farmem.agent.region.SlabStore;
import dev.farmem.agent.server.ConnectionLimits;
import dev.farmem.agent.server.TokenVerifier;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.rdma.DisniRuntime;
import java.net.InetSocketAddress;

/**
 * A memory node's RDMA service, beside its TCP server: rdma_cm connections, the token in a two-sided SEND, and the
 * node's slabs registered one by one so that clients READ and WRITE them one-sided. Built on DiSNI inside
 * {@link DisniRuntime}'s loader ({@code disni.RdmaAgentServer}).
 */
public interface RdmaService extends AutoCloseable {

    /** Where clients connect: the RDMA address and the rdma_cm port. */
    Endpoint endpoint();

    /** RDMA connections open now. */
    int connections();

    /** Disconnects every client and releases the registrations. */
    @Override
    void close();

    /**
     * Listens on {@code listen} (an address of an RDMA device: rdma_cm cannot listen on a wildcard or loopback
     * address through DiSNI) and serves {@code store}'s slabs. Throws {@link IllegalStateException} saying why when
     * RDMA cannot be served here. {@code limits} are the TCP server's: the HELLO timeout and the cap on connections
     * that have not presented a HELLO hold for rdma_cm connections too.
     */
    static RdmaService start(InetSocketAddress listen, SlabStore store, TokenVerifier verifier, ConnectionLimits limits, RdmaMetrics metrics) {
        return DisniRuntime.create(RdmaService.class, "dev.farmem.agent.rdma.disni.RdmaAgentServer",
                new Class<?>[] {InetSocketAddress.class, SlabStore.class, TokenVerifier.class, ConnectionLimits.class, RdmaMetrics.class},
                listen, store, verifier, limits, metrics);
    }
}
