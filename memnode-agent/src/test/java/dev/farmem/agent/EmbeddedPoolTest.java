package dev.farmem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.WriteBatch;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.tcp.NettyTransport;
import java.nio.ByteBuffer;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class EmbeddedPoolTest {

    static EmbeddedPool pool;
    static NettyTransport tcp;

    @BeforeAll
    static void start() {
        pool = EmbeddedPool.start(3, 8L << 20, 1L << 20);
        tcp = new NettyTransport();
    }

    @AfterAll
    static void stop() {
        tcp.close();
        pool.close();
    }

    @Test
    void bindingPlacesEachSlabOnDistinctAgentsAndValidates() {
        Binding b = pool.bind("c", 3L << 20, 2, 4096);
        assertThat(b.slabCount()).isEqualTo(3);
        for (long s = 0; s < 3; s++) {
            List<Binding.Location> replicas = b.locate(s);
            assertThat(replicas).hasSize(2);
            assertThat(replicas.get(0).node()).isNotEqualTo(replicas.get(1).node());
        }
        assertThat(Binding.fromJson(b.toJson())).isEqualTo(b);
    }

    @Test
    void bytesWrittenThroughTheBindingAreReadBackFromEveryReplica() {
        Binding b = pool.bind("rw", 2L << 20, 2, 4096);
        Set<String> seen = new HashSet<>();
        for (long s = 0; s < b.slabCount(); s++) {
            for (Binding.Location loc : b.locate(s)) {
                seen.add(loc.node());
                MemoryNodeConnection c = tcp.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
                ByteBuffer src = ByteBuffer.allocate(4096);
                for (int i = 0; i < 4096; i++) src.put(i, (byte) (i * 31 + s));
                c.writev(loc.remoteSlab(), new WriteBatch().add(8192, src, 0, 64).add(8192 + 128, src, 128, 3968)).join();
                ByteBuffer dst = ByteBuffer.allocateDirect(4096);
                c.read(loc.remoteSlab(), 8192, dst).join();
                for (int i = 0; i < 4096; i++) {
                    byte want = (i >= 64 && i < 128) ? 0 : src.get(i);
                    assertThat(dst.get(i)).as("byte %d", i).isEqualTo(want);
                }
                c.close();
            }
        }
        assertThat(seen).hasSize(3);
    }

    @Test
    void stoppedAgentRefusesConnections() {
        try (EmbeddedPool small = EmbeddedPool.start(2, 2L << 20, 1L << 20)) {
            Binding b = small.bind("x", 1L << 20, 2, 4096);
            Endpoint gone = small.agents().get(0).endpoint();
            small.stopAgent(0);
            assertThat(small.agents().get(0).agent()).isNull();
            assertThatThrownBy(() -> tcp.connect(gone, b.nodes().get("agent-0").token()).join())
                    .hasMessageContaining("CONNECTION_CLOSED");
        }
    }
}
