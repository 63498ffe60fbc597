package dev.farmem.transport;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.transport.tcp.TcpOptions;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class TransportsTest {

    @Test
    void tcpAndAutoOpenTheTcpTransport() {
        try (Transport tcp = Transports.open("tcp", TcpOptions.defaults()); Transport auto = Transports.open("auto", TcpOptions.defaults())) {
            assertThat(tcp.name()).isEqualTo("tcp");
            assertThat(auto.name()).isEqualTo("tcp");
        }
    }

    @Test
    void rdmaSaysWhyItCannotBeUsed() {
        RdmaSupport.Status probe = RdmaSupport.probe();
        assertThat(probe.reason()).isNotBlank();
        assertThatThrownBy(() -> Transports.open("rdma", TcpOptions.defaults()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining(probe.reason())
                .hasMessageContaining("use transport tcp");
    }

    @Test
    void tcpTakesARegistrationAndIgnoresItButOnlyForDirectMemory() {
        try (Transport tcp = Transports.open("tcp", TcpOptions.defaults());
             Transport.Registration r = tcp.register(ByteBuffer.allocateDirect(4096))) {
            assertThat(r).isSameAs(Transport.Registration.NONE);
            assertThatThrownBy(() -> tcp.register(ByteBuffer.allocate(4096))).hasMessageContaining("only direct (off-heap) memory");
        }
    }

    @Test
    void anUnknownNameIsRefused() {
        assertThatThrownBy(() -> Transports.open("udp", TcpOptions.defaults())).hasMessageContaining("use tcp, rdma or auto");
    }
}
