package dev.farmem.transport;

import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Opens the transport a binding or a flag names: {@code tcp}, {@code rdma} or {@code auto}.
 * {@code auto} would take RDMA where it loads; this release has only the TCP data path, so it
 * logs what the RDMA probe found and opens TCP. {@code rdma} fails with the probe's reason.
 */
public final class Transports {

    private static final Logger log = LoggerFactory.getLogger(Transports.class);

    private Transports() {}

    public static Transport open(String name, TcpOptions tcp) {
        return switch (name) {
            case "tcp" -> new NettyTransport(tcp);
            case "rdma" -> {
                RdmaSupport.Status rdma = RdmaSupport.probe();
                throw new IllegalStateException(rdma.available()
                        ? "transport rdma: " + rdma.reason() + ", but this release has no RDMA data path yet: use transport tcp"
                        : "transport rdma is not usable here: " + rdma.reason() + "; use transport tcp (or auto)");
            }
            case "auto" -> {
                log.info("transport auto: using tcp ({})", RdmaSupport.probe().reason());
                yield new NettyTransport(tcp);
            }
            default -> throw new IllegalArgumentException("unknown transport '" + name + "': use tcp, rdma or auto");
        };
    }
}
