package dev.farmem.client.engine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.Transport;
import dev.farmem.transport.Transports;
import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The transports of the bindings a far memory follows: one per name a binding gives, opened once, closed with the far memory. */
class BoundTransportsTest {

    private static final long MIB = 1 << 20;
    private static EmbeddedPool pool;

    @BeforeAll
    static void startPool() {
        pool = EmbeddedPool.start(1, 16 * MIB, MIB);
    }

    @AfterAll
    static void stopPool() {
        pool.close();
    }

    private static Binding naming(Binding b, String transport) {
        return new Binding(b.version(), b.pool(), b.claim(), b.claimUid(), b.epoch(), transport, b.sizeBytes(), b.slabSize(), b.blockSize(),
                b.nodes(), b.extents());
    }

    private static void connects(Transport t, Binding b) throws Exception {
        Binding.Location loc = b.locate(0).get(0);
        t.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).get(10, TimeUnit.SECONDS).close();
    }

    @Test
    void eachNameIsOpenedOnceAndTheTransportsOpenedHereCloseWithIt() throws Exception {
        Binding b = pool.bind("bound-once", MIB, 1, 4096);
        List<Transport> opened = new ArrayList<>();
        BoundTransports transports = new BoundTransports(b.claim(), ByteBuffer.allocateDirect(4096), null, name -> {
            Transport t = Transports.open(name, TcpOptions.defaults());
            opened.add(t);
            return t;
        });
        Transport first = transports.of(b);
        assertThat(transports.of(naming(b, "tcp"))).as("a binding that names none uses tcp").isSameAs(first);
        assertThat(opened).hasSize(1);
        connects(first, b);
        transports.close();
        assertThatThrownBy(() -> connects(first, b)).as("closed with the far memory");
        assertThatThrownBy(() -> transports.of(b)).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void aBindingThatNamesATransportThisHostCannotOpenFailsWithTheReasonAndTheOthersStay() throws Exception {
        Binding b = pool.bind("bound-rdma", MIB, 1, 4096);
        try (BoundTransports transports = new BoundTransports(b.claim(), ByteBuffer.allocateDirect(4096), null,
                name -> Transports.open(name, TcpOptions.defaults()))) {
            Transport tcp = transports.of(b);
            if (!RdmaSupport.probe().available()) {
                // A heal's binding names tcp while a replica fills and rdma after: here the rdma one cannot be opened, and says why.
                assertThatThrownBy(() -> transports.of(naming(b, "rdma")))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("claim bound-rdma is bound with transport rdma")
                        .hasMessageContaining(RdmaSupport.probe().reason());
            }
            connects(tcp, b);
        }
    }

    @Test
    void anOverrideServesEveryBindingAndStaysOpen() throws Exception {
        Binding b = pool.bind("bound-override", MIB, 1, 4096);
        try (NettyTransport override = new NettyTransport()) {
            BoundTransports transports = new BoundTransports(b.claim(), ByteBuffer.allocateDirect(4096), override,
                    name -> { throw new AssertionError("nothing is opened by name with an override, not " + name); });
            assertThat(transports.of(naming(b, "rdma"))).isSameAs(override);
            assertThat(transports.of(b)).isSameAs(override);
            transports.close();
            connects(override, b);
        }
    }
}
