package dev.farmem.client.rdma;

import dev.farmem.agent.EmbeddedPool;

/**
 * The client contract on RDMA: agents serve RDMA beside TCP on the guest's RoCE address and bindings say {@code rdma}.
 * Needs an RDMA device, so it runs in the e2e/rdma-vm guest ({@link RdmaClientGuestTest}); its name keeps surefire from
 * running it on the host.
 */
class RdmaClientContract extends ClientContract {

    /** The RoCE address of the e2e/rdma-vm guest; another with -Dfarmem.rdma.address. */
    static final String ADDRESS = System.getProperty("farmem.rdma.address", "10.215.0.2");

    @Override
    EmbeddedPool startPool(int agents, long capacity, long slab) {
        return EmbeddedPool.startRdma(agents, capacity, slab, ADDRESS);
    }

    @Override
    String transport() {
        return "rdma";
    }
}
