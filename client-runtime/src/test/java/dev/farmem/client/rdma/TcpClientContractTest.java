package dev.farmem.client.rdma;

import dev.farmem.agent.EmbeddedPool;

/** The client contract on TCP, on the host: agents on loopback, bindings that say {@code tcp}. */
class TcpClientContractTest extends ClientContract {

    @Override
    EmbeddedPool startPool(int agents, long capacity, long slab) {
        return EmbeddedPool.start(agents, capacity, slab);
    }

    @Override
    String transport() {
        return "tcp";
    }
}
