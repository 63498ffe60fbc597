package dev.farmem.agent.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.agent.AgentSettings;
import dev.farmem.agent.MemoryNodeAgent;
import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.metrics.AgentMetrics.Closed;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.wire.WireCodec;
import dev.farmem.transport.wire.WireFrame;
import dev.farmem.transport.wire.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.prometheus.client.CollectorRegistry;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;

/**
 * Peers that do not play by the rules, against a real agent over loopback: one that never reads its
 * replies, one whose first frame is far larger than a HELLO, many that connect and never
 * authenticate, one that stops mid-frame. After each the agent is healthy, serves a good client
 * correctly, and what it holds stays bounded, read from its own metrics.
 */
class HostilePeersTest {

    static final long SLAB = 1L << 20;
    static final ByteBufAllocator A = ByteBufAllocator.DEFAULT;
    static final byte[] KEY = TokenKey.generate();
    static final TokenIssuer ISSUER = new TokenIssuer(KEY);

    static MemoryNodeAgent agent(ConnectionLimits limits) {
        return MemoryNodeAgent.start(AgentSettings.loopback("agent-0", 4 * SLAB, SLAB, KEY).withLimits(limits), new CollectorRegistry());
    }

    static String token(MemoryNodeAgent node, String uid, int firstSlab) {
        return ISSUER.issue("agent-0", node.incarnation(), uid, 1, firstSlab, 1, Rights.READ_WRITE, System.currentTimeMillis() + 600_000);
    }

    @Test
    void aClientThatNeverReadsRepliesIsHeldBackAndCostsAtMostItsQueueLimit() throws Exception {
        int maxQueued = 256 << 10;
        ConnectionLimits limits = new ConnectionLimits(maxQueued, 16, Duration.ofSeconds(30), Duration.ofSeconds(30));
        int reads = 200;
        int readLength = 512 << 10; // 100 MiB of replies asked for
        try (MemoryNodeAgent node = agent(limits); NettyTransport tcp = new NettyTransport(); RawPeer hostile = new RawPeer(node.endpoint(), 64 << 10)) {
            AgentMetrics m = node.metrics();
            ByteBuf requests = concat(WireCodec.preamble(A), WireCodec.hello(A, 1, token(node, "hostile", 0)));
            for (int i = 0; i < reads; i++) requests = concat(requests, WireCodec.read(A, 2 + i, 0, (i % 2) * (long) readLength, readLength));
            hostile.send(requests);

            // Whatever it takes the agent to notice, the queue never passes the limit plus one response.
            long bound = maxQueued + Protocol.HEADER_SIZE + readLength;
            awaitTrue("the agent stops reading the connection (or queues past the bound)", () -> m.readPauses() >= 1 || m.queuedBytes() > bound);
            for (int i = 0; i < 50; i++) {
                assertThat((long) m.queuedBytes()).as("queued response bytes, sample %d", i).isLessThanOrEqualTo(bound);
                Thread.sleep(10);
            }
            assertThat(m.readPauses()).isPositive();

            // Meanwhile a good client is served, byte for byte.
            goodClientWritesAndReadsBack(tcp, node, 1);

            // Once the hostile peer reads after all, every one of its requests is answered, in order.
            for (int i = 0; i < reads; i++) {
                RawFrame f = hostile.readFrame();
                if (i == 0) {
                    assertThat(f.op).isEqualTo(Protocol.HELLO_OK);
                    f = hostile.readFrame();
                }
                assertThat(f.op).as("reply %d", i).isEqualTo(Protocol.READ_OK);
                assertThat(f.id).isEqualTo(2 + i);
                assertThat(f.body.length).isEqualTo(readLength);
            }
            awaitTrue("nothing stays queued", () -> m.queuedBytes() == 0);
            assertThat(m.requests(AgentMetrics.Op.READ)).isGreaterThanOrEqualTo(reads);
        }
    }

    @Test
    void aFirstFrameLargerThanAHelloIsRefusedBeforeItIsBuffered() throws Exception {
        try (MemoryNodeAgent node = agent(ConnectionLimits.DEFAULT); NettyTransport tcp = new NettyTransport();
             RawPeer hostile = new RawPeer(node.endpoint(), 0)) {
            ByteBuf start = WireCodec.preamble(A);
            WireCodec.header(start, Protocol.HELLO, 7, Protocol.DEFAULT_MAX_FRAME_SIZE - Protocol.HEADER_SIZE);
            start.writeZero(1000); // the agent answers without waiting for the rest
            hostile.send(start);
            RawFrame f = hostile.readFrame();
            assertThat(f.op).isEqualTo(Protocol.ERROR);
            assertThat(f.errorCode()).isEqualTo(ErrorCode.FRAME_TOO_LARGE);
            assertThat(f.errorMessage()).contains("before HELLO").contains(String.valueOf(ConnectionLimits.MAX_HELLO_FRAME));
            assertThat(hostile.closedByPeer()).isTrue();
            assertThat(node.metrics().closedFor(Closed.HELLO_TOO_LARGE)).isEqualTo(1);

            // A HELLO of the largest size that may be valid is still read and judged by its token.
            ByteBuf big = concat(WireCodec.preamble(A), WireCodec.hello(A, 1, "x".repeat(Protocol.MAX_TOKEN_LENGTH)));
            try (RawPeer almost = new RawPeer(node.endpoint(), 0)) {
                almost.send(big);
                RawFrame answer = almost.readFrame();
                assertThat(answer.errorCode()).isEqualTo(ErrorCode.UNAUTHENTICATED);
            }
            goodClientWritesAndReadsBack(tcp, node, 1);
            assertThat(node.metrics().closedFor(Closed.HELLO_TOO_LARGE)).isEqualTo(1);
        }
    }

    @Test
    void connectionsThatNeverAuthenticateAreCappedAndTimedOut() throws Exception {
        ConnectionLimits limits = new ConnectionLimits(4 << 20, 4, Duration.ofMillis(500), Duration.ofSeconds(30));
        try (MemoryNodeAgent node = agent(limits); NettyTransport tcp = new NettyTransport()) {
            AgentMetrics m = node.metrics();
            List<RawPeer> silent = new ArrayList<>();
            try {
                for (int i = 0; i < 4; i++) {
                    RawPeer p = new RawPeer(node.endpoint(), 0);
                    silent.add(p);
                    p.send(Unpooled.wrappedBuffer(new byte[] {'F', 'M'})); // a started preamble, then nothing
                }
                awaitTrue("four connections wait for HELLO", () -> gauge(m, "farmem_agent_unauthenticated_connections") == 4);
                try (RawPeer extra = new RawPeer(node.endpoint(), 0)) {
                    RawFrame refused = extra.readFrame();
                    assertThat(refused.errorCode()).isEqualTo(ErrorCode.CONNECTION_CLOSED);
                    assertThat(refused.errorMessage()).contains("4 connections waiting to present a HELLO");
                    assertThat(extra.closedByPeer()).isTrue();
                }
                assertThat(m.closedFor(Closed.UNAUTHENTICATED_LIMIT)).isEqualTo(1);
                // The silent ones run out of time and are closed with a reason.
                for (RawPeer p : silent) {
                    RawFrame f = p.readFrame();
                    assertThat(f.errorCode()).isEqualTo(ErrorCode.UNAUTHENTICATED);
                    assertThat(f.errorMessage()).contains("no HELLO within 500 ms");
                    assertThat(p.closedByPeer()).isTrue();
                }
            } finally {
                for (RawPeer p : silent) p.close();
            }
            assertThat(m.closedFor(Closed.HELLO_TIMEOUT)).isEqualTo(4);
            awaitTrue("no connection waits for HELLO", () -> gauge(m, "farmem_agent_unauthenticated_connections") == 0);
            goodClientWritesAndReadsBack(tcp, node, 2);
            assertThat(gauge(m, "farmem_agent_unauthenticated_connections")).isZero();
            awaitTrue("every connection is gone and counted as gone", () -> gauge(m, "farmem_agent_connections") == 0);
        }
    }

    @Test
    void anAuthenticatedConnectionHoldingAPartialFrameIsClosedButAnIdleOneIsNot() throws Exception {
        ConnectionLimits limits = new ConnectionLimits(4 << 20, 16, Duration.ofSeconds(30), Duration.ofMillis(300));
        try (MemoryNodeAgent node = agent(limits); NettyTransport tcp = new NettyTransport();
             RawPeer stuck = new RawPeer(node.endpoint(), 0); RawPeer idle = new RawPeer(node.endpoint(), 0)) {
            ByteBuf hello = concat(WireCodec.preamble(A), WireCodec.hello(A, 1, token(node, "stuck", 0)));
            ByteBuf read = WireCodec.read(A, 2, 0, 0, 64);
            stuck.send(concat(hello.copy(), read.retainedSlice(0, 10)));
            idle.send(concat(hello, WireCodec.ping(A, 2)));
            assertThat(idle.readFrame().op).isEqualTo(Protocol.HELLO_OK);
            assertThat(idle.readFrame().op).isEqualTo(Protocol.PONG);

            assertThat(stuck.readFrame().op).isEqualTo(Protocol.HELLO_OK);
            RawFrame f = stuck.readFrame();
            assertThat(f.errorCode()).isEqualTo(ErrorCode.TIMEOUT);
            assertThat(f.errorMessage()).contains("still unfinished").contains("limit 300 ms");
            assertThat(stuck.closedByPeer()).isTrue();
            assertThat(node.metrics().closedFor(Closed.PARTIAL_FRAME_TIMEOUT)).isEqualTo(1);

            // The idle connection held no partial frame: it outlived the stuck one and is still served.
            idle.send(WireCodec.ping(A, 3));
            RawFrame pong = idle.readFrame();
            assertThat(pong.op).isEqualTo(Protocol.PONG);
            assertThat(pong.id).isEqualTo(3);
            read.release();
            goodClientWritesAndReadsBack(tcp, node, 1);
            assertThat(node.metrics().closedFor(Closed.PARTIAL_FRAME_TIMEOUT)).isEqualTo(1);
        }
    }

    /** A good client with its own slab writes a pattern and reads it back. */
    static void goodClientWritesAndReadsBack(NettyTransport tcp, MemoryNodeAgent node, int slab) {
        MemoryNodeConnection good = tcp.connect(node.endpoint(), token(node, "good-" + slab, slab)).join();
        try {
            ByteBuffer mine = ByteBuffer.allocate(4096);
            for (int i = 0; i < 4096; i++) mine.put(i, (byte) (i * 7 + slab));
            good.writev(slab, new WriteBatch().add(8192, mine, 0, 4096)).join();
            ByteBuffer back = ByteBuffer.allocate(4096);
            good.read(slab, 8192, back).join();
            assertThat(back).isEqualTo(mine.clear());
        } finally {
            good.close();
        }
    }

    /** {@code a} then {@code b} in a new buffer; both are released. */
    static ByteBuf concat(ByteBuf a, ByteBuf b) {
        ByteBuf out = Unpooled.buffer(a.readableBytes() + b.readableBytes()).writeBytes(a).writeBytes(b);
        a.release();
        b.release();
        return out;
    }

    static double gauge(AgentMetrics m, String name) {
        Double v = m.registry().getSampleValue(name);
        return v == null ? Double.NaN : v;
    }

    static void awaitTrue(String what, BooleanSupplier condition) throws InterruptedException {
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("waiting until %s", what).isLessThan(until);
            Thread.sleep(5);
        }
    }

    record RawFrame(byte op, long id, byte[] body) {
        ErrorCode errorCode() {
            assertThat(op).as("an ERROR frame").isEqualTo(Protocol.ERROR);
            return ErrorCode.fromWire((body[0] & 0xFF) | (body[1] & 0xFF) << 8);
        }

        String errorMessage() {
            return ((WireFrame.ErrorReply) WireCodec.decodeReply(Protocol.ERROR, id, Unpooled.wrappedBuffer(body), 0, body.length)).message();
        }
    }

    /** A plain socket to the agent: sends raw bytes, reads whole frames. */
    static final class RawPeer implements AutoCloseable {
        private final Socket socket = new Socket();
        private final DataInputStream in;

        RawPeer(Endpoint node, int receiveBuffer) throws IOException {
            if (receiveBuffer > 0) socket.setReceiveBufferSize(receiveBuffer);
            socket.connect(new InetSocketAddress(node.host(), node.port()), 2000);
            socket.setSoTimeout(20_000);
            in = new DataInputStream(socket.getInputStream());
        }

        void send(ByteBuf bytes) throws IOException {
            byte[] out = new byte[bytes.readableBytes()];
            bytes.readBytes(out);
            bytes.release();
            socket.getOutputStream().write(out);
            socket.getOutputStream().flush();
        }

        RawFrame readFrame() throws IOException {
            byte[] header = new byte[Protocol.HEADER_SIZE];
            in.readFully(header);
            ByteBuffer h = ByteBuffer.wrap(header).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            int length = h.getInt(0);
            byte[] body = new byte[length - Protocol.HEADER_AFTER_LENGTH];
            in.readFully(body);
            return new RawFrame(header[4], h.getLong(8), body);
        }

        /** True once the agent closed the connection: end of stream (or a reset) comes next. */
        boolean closedByPeer() throws IOException {
            try {
                return in.read() == -1;
            } catch (EOFException | SocketException closed) {
                return true;
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }
}
