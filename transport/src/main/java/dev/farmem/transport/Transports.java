package dev.farmem.transport;

import dev.farmem.transport.rdma.RdmaOptions;
import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.transport.rdma.RdmaTransport;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens the transport a binding or a flag names: {@code tcp}, {@code rdma} or {@code auto}.
 * {@code auto} takes RDMA where the probe finds a device and libdisni, else logs why not and opens TCP.
 * {@code rdma} fails with the probe's reason where it cannot be used.
 */
public final class Transports {

    private static final Logger log = LoggerFactory.getLogger(Transports.class);

    private Transports() {}

    public static Transport open(String name, TcpOptions tcp) {
        return switch (name) {
            case "tcp" -> new NettyTransport(tcp);
            case "rdma" -> {
                RdmaSupport.Status rdma = RdmaSupport.probe();
                if (!rdma.available()) throw new IllegalStateException("transport rdma is not usable here: " + rdma.reason() + "; use transport tcp (or auto)");
                yield RdmaTransport.open(RdmaOptions.defaults());
            }
            case "auto" -> {
                RdmaSupport.Status rdma = RdmaSupport.probe();
                if (rdma.available()) {
                    log.info("transport auto: using rdma ({})", rdma.reason());
                    yield RdmaTransport.open(RdmaOptions.defaults());
                }
                log.info("transport auto: using tcp ({})", rdma.reason());
                yield new NettyTransport(tcp);
            }
            default -> throw new IllegalArgumentException("unknown transport '" + name + "': use tcp, rdma or auto");
        };
    }
}
