package dev.farmem.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.agent.metrics.AgentMetrics.Closed;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.tcp.NettyTransport;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * A connection lives no longer than its token: this is what ends a deleted claim's access, since the
 * agent never learns of the deletion. A client that presents the renewed token on a new connection
 * keeps working with the same slabs and data.
 */
class TokenExpiryTest {

    static final long SLAB = 1L << 20;
    static final int BLOCK = 4096;
    static final Duration SHORT = Duration.ofMillis(1500);

    @Test
    void aConnectionWhoseTokenExpiresIsClosedAndItsTokenRefusedAfterwards() {
        try (EmbeddedPool pool = EmbeddedPool.start(1, 4 * SLAB, SLAB); NettyTransport tcp = new NettyTransport()) {
            Binding shortLived = pool.renew(pool.bind("deleted-later", SLAB, 1, BLOCK), SHORT);
            Binding.Location loc = shortLived.locate(0).get(0);
            String token = shortLived.nodes().get(loc.node()).token();
            MemoryNodeConnection c = tcp.connect(loc.endpoint(), token).join();
            c.writev(loc.remoteSlab(), new WriteBatch().add(0, pattern(7), 0, BLOCK)).join();

            awaitClosed(c);
            assertThat(pool.agents().get(0).agent().metrics().closedFor(Closed.TOKEN_EXPIRED)).isEqualTo(1.0);
            assertThatThrownBy(() -> c.read(loc.remoteSlab(), 0, ByteBuffer.allocate(BLOCK)).join()).isInstanceOf(CompletionException.class);
            assertThatThrownBy(() -> tcp.connect(loc.endpoint(), token).join())
                    .isInstanceOf(CompletionException.class).cause().isInstanceOfSatisfying(TransportException.class,
                            e -> assertThat(e.code()).isEqualTo(ErrorCode.TOKEN_EXPIRED))
                    .hasMessageContaining("the runtime needs a fresh binding");
        }
    }

    @Test
    void aRenewedTokenKeepsTheClaimWorkingAfterTheFirstOneExpired() {
        try (EmbeddedPool pool = EmbeddedPool.start(1, 4 * SLAB, SLAB); NettyTransport tcp = new NettyTransport()) {
            Binding first = pool.renew(pool.bind("renewed", SLAB, 1, BLOCK), SHORT);
            Binding.Location loc = first.locate(0).get(0);
            MemoryNodeConnection old = tcp.connect(loc.endpoint(), first.nodes().get(loc.node()).token()).join();
            old.writev(loc.remoteSlab(), new WriteBatch().add(0, pattern(3), 0, BLOCK)).join();

            Binding renewed = pool.renew(first, Duration.ofMinutes(10));
            assertThat(renewed.epoch()).as("a renewal is the same attach").isEqualTo(first.epoch());
            MemoryNodeConnection fresh = tcp.connect(loc.endpoint(), renewed.nodes().get(loc.node()).token()).join();
            awaitClosed(old);

            ByteBuffer back = ByteBuffer.allocate(BLOCK);
            fresh.read(loc.remoteSlab(), 0, back).join();
            assertThat(back).as("the renewed token reads what the first one wrote").isEqualTo(pattern(3));
            fresh.writev(loc.remoteSlab(), new WriteBatch().add(0, pattern(4), 0, BLOCK)).join();
            assertThat(fresh.isOpen()).isTrue();
        }
    }

    /** Bounded: the agent closes the connection at the token's expiry, seconds from now. */
    static void awaitClosed(MemoryNodeConnection c) {
        for (int i = 0; i < 300 && c.isOpen(); i++) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        assertThat(c.isOpen()).as("the connection closed once its token expired").isFalse();
    }

    static ByteBuffer pattern(int seed) {
        ByteBuffer b = ByteBuffer.allocateDirect(BLOCK);
        for (int i = 0; i < BLOCK; i++) b.put(i, (byte) (i * 31 + seed));
        return b;
    }
}
