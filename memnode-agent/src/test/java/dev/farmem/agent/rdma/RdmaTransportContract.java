package dev.farmem.agent.rdma;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.transport.Transport;
import dev.farmem.transport.rdma.RdmaOptions;
import dev.farmem.transport.rdma.RdmaTransport;

/**
 * The transport contract on RDMA: agents serve RDMA beside TCP on the guest's RoCE address. Needs an RDMA device, so
 * it runs in the e2e/rdma-vm guest ({@link RdmaTransportGuestTest}); its name keeps surefire from running it on the host.
 */
class RdmaTransportContract extends TransportContract {

    /** The RoCE address of the e2e/rdma-vm guest; another with -Dfarmem.rdma.address. */
    static final String ADDRESS = System.getProperty("farmem.rdma.address", "10.215.0.2");

    @Override
    EmbeddedPool startPool(int agents, long capacity, long slab) {
        return EmbeddedPool.startRdma(agents, capacity, slab, ADDRESS);
    }

    @Override
    Transport openTransport() {
        return RdmaTransport.open(RdmaOptions.defaults());
    }

    @Override
    Transport openTightTransport() {
        return RdmaTransport.open(RdmaOptions.defaults().withDepth(4));
    }
}
