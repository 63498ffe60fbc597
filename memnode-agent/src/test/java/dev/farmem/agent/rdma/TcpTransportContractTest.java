package dev.farmem.agent.rdma;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.transport.Transport;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;

/** The transport contract on TCP, on the host. */
class TcpTransportContractTest extends TransportContract {

    @Override
    EmbeddedPool startPool(int agents, long capacity, long slab) {
        return EmbeddedPool.start(agents, capacity, slab);
    }

    @Override
    Transport openTransport() {
        return new NettyTransport();
    }

    @Override
    Transport openTightTransport() {
        return new NettyTransport(TcpOptions.defaults().withMaxBytesInFlight(1 << 20).withIoThreads(1));
    }
}
