package dev.farmem.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.agent.MemoryNodeAgent;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.tcp.NettyTransport;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * An agent restarted under the same node name, on the same port, is a new incarnation with an empty region: it
 * refuses the tokens issued for the process before it, so no client takes its zeros for the claim's data.
 */
class AgentRestartTest {

    static final long SLAB = 1L << 20;
    static final int BLOCK = 4096;

    @Test
    void aRestartedAgentRefusesTheTokensOfItsEarlierIncarnationAndAcceptsTokensForItsOwn() {
        try (EmbeddedPool pool = EmbeddedPool.start(1, 8 * SLAB, SLAB); NettyTransport tcp = new NettyTransport()) {
            Binding before = pool.bind("restarted", SLAB, 1, BLOCK);
            Binding.Location loc = before.locate(0).get(0);
            ByteBuffer data = ByteBuffer.allocateDirect(BLOCK);
            for (int i = 0; i < BLOCK; i++) data.put(i, (byte) (i + 1));
            MemoryNodeConnection c = tcp.connect(loc.endpoint(), before.nodes().get(loc.node()).token()).join();
            c.writev(loc.remoteSlab(), new WriteBatch().add(0, data, 0, BLOCK)).join();
            long first = pool.incarnation(0);

            MemoryNodeAgent again = pool.restartAgent(0);
            assertThat(again.node()).isEqualTo("agent-0");
            assertThat(again.endpoint()).isEqualTo(loc.endpoint());
            assertThat(again.incarnation()).isNotEqualTo(first);

            assertThatThrownBy(() -> tcp.connect(loc.endpoint(), before.nodes().get(loc.node()).token()).join())
                    .isInstanceOf(CompletionException.class).cause().isInstanceOfSatisfying(TransportException.class,
                            e -> assertThat(e.code()).isEqualTo(ErrorCode.STALE_INCARNATION))
                    .hasMessageContaining("the node restarted and its region holds none of the claim's data");
            assertThat(again.metrics().errors(ErrorCode.STALE_INCARNATION)).isEqualTo(1);

            Binding after = pool.bind("after-restart", SLAB, 1, BLOCK);
            Binding.Location fresh = after.locate(0).get(0);
            MemoryNodeConnection ok = tcp.connect(fresh.endpoint(), after.nodes().get(fresh.node()).token()).join();
            ok.writev(fresh.remoteSlab(), new WriteBatch().add(0, data, 0, BLOCK)).join();
            ByteBuffer back = ByteBuffer.allocate(BLOCK);
            ok.read(fresh.remoteSlab(), 0, back).join();
            assertThat(back).isEqualTo(data.duplicate().clear());
        }
    }
}
