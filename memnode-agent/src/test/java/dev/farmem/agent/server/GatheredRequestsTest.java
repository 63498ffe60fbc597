package dev.farmem.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import dev.farmem.transport.wire.Protocol;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * A thread's requests inside {@link Transport#gather} over TCP: held until the outermost scope closes, then sent, each
 * answered with its own bytes; never held while the thread waits for room (it would wait for itself).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatheredRequestsTest {

    static final long SLAB = 1L << 20;
    static final int BLOCK = 4096;

    EmbeddedPool pool;

    @BeforeAll
    void start() {
        pool = EmbeddedPool.start(1, 8 * SLAB, SLAB);
    }

    @AfterAll
    void stop() {
        pool.close();
    }

    @Test
    void requestsInsideAScopeLeaveWhenTheOutermostScopeClosesAndEachGetsItsOwnBytes() {
        try (NettyTransport tcp = new NettyTransport()) {
            Binding b = pool.bind("gathered", SLAB, 1, BLOCK);
            Binding.Location loc = b.locate(0).get(0);
            MemoryNodeConnection c = tcp.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
            int slab = loc.remoteSlab();
            ByteBuffer src = ByteBuffer.allocateDirect(16 * BLOCK);
            for (int i = 0; i < src.capacity(); i++) src.put(i, (byte) (i / BLOCK * 7 + i));
            c.writev(slab, new WriteBatch().add(0, src, 0, 16 * BLOCK)).join();

            ByteBuffer dst = ByteBuffer.allocateDirect(16 * BLOCK);
            List<CompletableFuture<Void>> held = new ArrayList<>();
            Transport.Gather outer = tcp.gather();
            try (Transport.Gather inner = tcp.gather()) {
                for (int k = 15; k >= 0; k--) held.add(c.read(slab, (long) k * BLOCK, dst.slice(k * BLOCK, BLOCK)));
            }
            // Still held by the outer scope: a request another thread sends now is answered first (the node
            // answers a connection's requests in order, so had ours been sent, they would be answered before it).
            ByteBuffer other = ByteBuffer.allocate(BLOCK);
            CompletableFuture.runAsync(() -> c.read(slab, 0, other).join()).join();
            assertThat(held).noneMatch(CompletableFuture::isDone);
            outer.close();
            CompletableFuture.allOf(held.toArray(CompletableFuture[]::new)).join();
            assertThat(dst.clear()).isEqualTo(src.clear());
            assertThatThrownBy(outer::close).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed more often than opened");
            c.close();
        }
    }

    @Test
    void aThreadThatMustWaitForRoomInsideAScopeSendsWhatItHoldsFirst() {
        // Room for one 4 KiB READ in flight: the second waits for the first's reply, which comes only once it is sent.
        int frame = Protocol.MIN_MAX_FRAME_SIZE;
        TcpOptions tight = new TcpOptions(frame, frame, TcpOptions.defaults().requestTimeout(), TcpOptions.defaults().connectTimeout(), 1);
        try (NettyTransport tcp = new NettyTransport(tight)) {
            Binding b = pool.bind("tight", SLAB, 1, BLOCK);
            Binding.Location loc = b.locate(0).get(0);
            MemoryNodeConnection c = tcp.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
            List<CompletableFuture<Void>> reads = new ArrayList<>();
            try (Transport.Gather g = tcp.gather()) {
                for (int k = 0; k < 4; k++) reads.add(c.read(loc.remoteSlab(), (long) k * BLOCK, ByteBuffer.allocate(BLOCK)));
            }
            CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).join(); // a TIMEOUT had the thread waited on itself
            c.close();
        }
    }
}
