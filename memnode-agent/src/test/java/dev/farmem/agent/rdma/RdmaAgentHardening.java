package dev.farmem.agent.rdma;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.agent.AgentSettings;
import dev.farmem.agent.MemoryNodeAgent;
import dev.farmem.agent.server.ConnectionLimits;
import dev.farmem.common.Endpoint;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.rdma.RdmaOptions;
import dev.farmem.transport.rdma.RdmaProtocol;
import dev.farmem.transport.rdma.RdmaTransport;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import dev.farmem.transport.wire.Protocol;
import io.prometheus.client.CollectorRegistry;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The agent's RDMA side holds what its TCP side holds (issue 16): a HELLO timeout, a cap on connections waiting for
 * their HELLO, a bounded HELLO, nothing before HELLO, refused tokens with TCP's codes, fencing as a re-registration
 * under a new key, zeroing on reuse, and the metrics that count them. Needs an RDMA device, so it runs in the
 * e2e/rdma-vm guest, in the same boot as the transport contract ({@link RdmaTransportGuestTest}); its name keeps
 * surefire from running it on the host.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RdmaAgentHardening {

    private static final long SLAB = 1L << 20;
    /**
     * A bound on waiting, not a measurement: the guest is emulated and the host may be loaded, so a HELLO has taken
     * more than TCP's default 5 s to connect. Tokens live an hour for the same reason.
     */
    private static final long WAIT_MS = 120_000;
    private static final Duration PATIENCE = Duration.ofMillis(WAIT_MS);

    private final byte[] key = TokenKey.generate();
    private final TokenIssuer issuer = new TokenIssuer(key);
    private Transport rdma;
    private Transport tcp;

    @BeforeAll
    void open() {
        RdmaOptions r = RdmaOptions.defaults();
        rdma = RdmaTransport.open(new RdmaOptions(r.depth(), r.slotBytes(), r.maxSegments(), PATIENCE, PATIENCE, r.spinNanos()));
        TcpOptions t = TcpOptions.defaults();
        tcp = new NettyTransport(new TcpOptions(t.maxFrameSize(), t.maxBytesInFlight(), PATIENCE, PATIENCE, t.ioThreads()));
    }

    @AfterAll
    void close() {
        if (rdma != null) rdma.close();
        if (tcp != null) tcp.close();
    }

    /** An agent serving TCP and RDMA on the guest's RoCE address, with these limits and its own registry. */
    private record Node(MemoryNodeAgent agent, CollectorRegistry registry) implements AutoCloseable {
        Endpoint endpoint() {
            return agent.rdma().endpoint();
        }

        double metric(String name, String... labels) {
            Double v = labels.length == 0 ? registry.getSampleValue(name)
                    : registry.getSampleValue(name, new String[] {"reason"}, labels);
            return v == null ? 0 : v;
        }

        @Override
        public void close() {
            agent.close();
        }
    }

    private Node node(int maxUnauthenticated, Duration helloTimeout) {
        AgentSettings s = AgentSettings.loopback("node-a", 8 * SLAB, SLAB, key);
        s = new AgentSettings(s.node(), s.pool(), new InetSocketAddress(RdmaTransportContract.ADDRESS, 0), s.capacity(), s.slabSize(), s.key(),
                s.backingFile(), s.maxFrameSize(), s.maxSegments(), s.ioThreads(),
                new ConnectionLimits(4 << 20, maxUnauthenticated, helloTimeout, Duration.ofSeconds(30)));
        CollectorRegistry registry = new CollectorRegistry();
        MemoryNodeAgent agent = MemoryNodeAgent.start(s, registry);
        agent.serveRdma(RdmaTransportContract.ADDRESS);
        return new Node(agent, registry);
    }

    private String token(Node n, String uid, long epoch, int slab) {
        return issuer.issue("node-a", n.agent().incarnation(), uid, epoch, slab, 1, Rights.READ_WRITE, System.currentTimeMillis() + 3_600_000);
    }

    private static RawClient connected(Node n) throws Exception {
        RawClient c = RawClient.open();
        c.connect(n.endpoint().host(), n.endpoint().port(), WAIT_MS);
        return c;
    }

    private static ByteBuffer hello(String token) {
        ByteBuffer b = ByteBuffer.allocate(RdmaProtocol.MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        RdmaProtocol.hello(b, token);
        return b.flip();
    }

    private static ErrorCode codeOf(Throwable t) {
        Throwable c = t instanceof CompletionException ? t.getCause() : t;
        assertThat(c).as("%s", t).isInstanceOf(TransportException.class);
        return ((TransportException) c).code();
    }

    private static ErrorCode refusal(Transport transport, Endpoint at, String token) {
        try {
            transport.connect(at, token).join().close();
        } catch (CompletionException | TransportException e) {
            return codeOf(e);
        }
        throw new AssertionError(transport.name() + " accepted the token");
    }

    @Test
    void aConnectionThatNeverPresentsItsTokenIsRefusedAtTheHelloTimeout() throws Exception {
        try (Node n = node(16, Duration.ofSeconds(1)); RawClient c = connected(n)) {
            RawClient.Reply r = c.receive(WAIT_MS);
            assertThat(r.type()).as("%s", r).isEqualTo(RdmaProtocol.ERROR);
            assertThat(r.code()).isEqualTo(ErrorCode.UNAUTHENTICATED);
            assertThat(r.message()).contains("no HELLO within 1000 ms");
            assertThat(c.receive(WAIT_MS).type()).isEqualTo(RawClient.CLOSED);
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "hello_timeout")).isEqualTo(1);
        }
    }

    @Test
    void anAbandonedRdmaCmHandshakeIsDroppedAtTheHelloTimeoutAndTheNextClientIsServed() throws Exception {
        try (Node n = node(16, Duration.ofSeconds(5));
                AbandonedHandshake stuck = AbandonedHandshake.start(n.endpoint().host(), n.endpoint().port(), WAIT_MS)) {
            // The node accepted that request and waits for its handshake to end; before the watchdog, for ever.
            ByteBuffer data = ByteBuffer.allocateDirect(4096);
            for (int i = 0; i < 4096; i++) data.put(i, (byte) (i * 13 + 5));
            try (MemoryNodeConnection good = rdma.connect(n.endpoint(), token(n, "claim-1", 1, 2)).join()) {
                good.writev(2, new WriteBatch().add(0, data, 0, 4096)).join();
                ByteBuffer back = ByteBuffer.allocateDirect(4096);
                good.read(2, 0, back).join();
                assertThat(back).isEqualTo(data.clear());
            }
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "handshake_timeout")).isEqualTo(1);
            assertThat(n.metric("farmem_agent_rdma_unauthenticated_connections")).isZero();
        }
    }

    @Test
    void aConnectionEndsWhenItsTokenExpiresAndARenewedTokenConnectsAgain() throws Exception {
        try (Node n = node(16, Duration.ofMinutes(5))) {
            ByteBuffer data = ByteBuffer.allocateDirect(4096);
            for (int i = 0; i < 4096; i++) data.put(i, (byte) (i * 3 + 1));
            // Long enough for the connect and one write on a loaded emulated guest; the test then waits for the end.
            long expires = System.currentTimeMillis() + 20_000;
            MemoryNodeConnection shortLived = rdma.connect(n.endpoint(),
                    issuer.issue("node-a", n.agent().incarnation(), "claim-1", 1, 4, 1, Rights.READ_WRITE, expires)).join();
            shortLived.writev(4, new WriteBatch().add(0, data, 0, 4096)).join();

            // Wait for the node to end it (no fixed sleep: a READ every 100 ms until one fails).
            ByteBuffer back = ByteBuffer.allocateDirect(4096);
            Throwable ended = null;
            long deadline = System.nanoTime() + 2 * WAIT_MS * 1_000_000L;
            while (ended == null && System.nanoTime() - deadline < 0) {
                ended = shortLived.read(4, 0, back).handle((v, t) -> t).join();
                if (ended == null) Thread.sleep(100);
            }
            assertThat(ended).as("a READ after the token expired").isNotNull();
            assertThat(codeOf(ended)).isEqualTo(ErrorCode.TOKEN_EXPIRED);
            assertThat((ended instanceof CompletionException ? ended.getCause() : ended).getMessage()).contains("reconnect with the renewed token");
            assertThat(shortLived.isOpen()).isFalse();
            Throwable write = shortLived.writev(4, new WriteBatch().add(0, data, 0, 64)).handle((v, t) -> t).join();
            assertThat(codeOf(write)).as("a WRITE on the ended connection").isEqualTo(ErrorCode.TOKEN_EXPIRED);
            shortLived.close();
            assertThat(n.metric("farmem_agent_rdma_connections_expired_total")).isEqualTo(1);

            // The renewed token (same claim and epoch, a later expiry) connects again, and the data is there.
            try (MemoryNodeConnection renewed = rdma.connect(n.endpoint(), token(n, "claim-1", 1, 4)).join()) {
                renewed.read(4, 0, back.clear()).join();
                assertThat(back).isEqualTo(data.clear());
            }
        }
    }

    @Test
    void connectionsWaitingForTheirHelloAreCappedAndAHelloFreesASlot() throws Exception {
        try (Node n = node(2, Duration.ofMinutes(5)); RawClient first = connected(n); RawClient second = connected(n)) {
            try (RawClient third = connected(n)) {
                RawClient.Reply r = third.receive(WAIT_MS);
                assertThat(r.code()).as("%s", r).isEqualTo(ErrorCode.CONNECTION_CLOSED);
                assertThat(r.message()).contains("2 connections waiting to present a HELLO");
            }
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "unauthenticated_limit")).isEqualTo(1);

            first.send(hello(token(n, "claim-1", 1, 0)));
            RawClient.Reply ok = first.receive(WAIT_MS);
            assertThat(ok.type()).as("%s", ok).isEqualTo(RdmaProtocol.HELLO_OK);
            try (RawClient fourth = connected(n)) {
                fourth.send(hello(token(n, "claim-1", 1, 0)));
                RawClient.Reply r = fourth.receive(WAIT_MS);
                assertThat(r.type()).as("one HELLO freed a slot: %s", r).isEqualTo(RdmaProtocol.HELLO_OK);
            }
            assertThat(n.metric("farmem_agent_rdma_unauthenticated_connections")).isEqualTo(1); // the second, still silent
        }
    }

    @Test
    void aHelloLongerThanTheLongestTokenIsRefusedAsTooLarge() throws Exception {
        try (Node n = node(16, Duration.ofMinutes(5)); RawClient c = connected(n)) {
            c.send(hello("a".repeat(Protocol.MAX_TOKEN_LENGTH + 1)));
            RawClient.Reply r = c.receive(WAIT_MS);
            assertThat(r.code()).as("%s", r).isEqualTo(ErrorCode.FRAME_TOO_LARGE);
            assertThat(c.receive(WAIT_MS).type()).isEqualTo(RawClient.CLOSED);
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "hello_too_large")).isEqualTo(1);
        }
    }

    @Test
    void aMessageBeforeHelloIsRefused() throws Exception {
        try (Node n = node(16, Duration.ofMinutes(5)); RawClient c = connected(n)) {
            ByteBuffer ping = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
            RdmaProtocol.ping(ping, RdmaProtocol.PING, 7);
            c.send(ping.flip());
            RawClient.Reply r = c.receive(WAIT_MS);
            assertThat(r.code()).as("%s", r).isEqualTo(ErrorCode.UNAUTHENTICATED);
            assertThat(r.message()).contains("before HELLO");
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "before_hello")).isEqualTo(1);
        }
    }

    @Test
    void refusedTokensGetTheCodesTcpSends() {
        try (Node n = node(16, Duration.ofMinutes(5))) {
            long incarnation = n.agent().incarnation();
            long later = System.currentTimeMillis() + 3_600_000;
            List<String> tokens = List.of(
                    new TokenIssuer(TokenKey.generate()).issue("node-a", incarnation, "u", 1, 0, 1, Rights.READ_WRITE, later),
                    issuer.issue("node-b", incarnation, "u", 1, 0, 1, Rights.READ_WRITE, later),
                    issuer.issue("node-a", incarnation, "u", 1, 0, 1, Rights.READ_WRITE, System.currentTimeMillis() - 1),
                    issuer.issue("node-a", Incarnation.draw(), "u", 1, 0, 1, Rights.READ_WRITE, later),
                    issuer.issue("node-a", incarnation, "u", 1, 8, 1, Rights.READ_WRITE, later),
                    "not a token");
            List<ErrorCode> overTcp = new ArrayList<>();
            List<ErrorCode> overRdma = new ArrayList<>();
            for (String t : tokens) {
                overTcp.add(refusal(tcp, n.agent().endpoint(), t));
                overRdma.add(refusal(rdma, n.endpoint(), t));
            }
            assertThat(overTcp).containsExactly(ErrorCode.UNAUTHENTICATED, ErrorCode.UNAUTHENTICATED, ErrorCode.TOKEN_EXPIRED,
                    ErrorCode.STALE_INCARNATION, ErrorCode.OUT_OF_RANGE, ErrorCode.UNAUTHENTICATED);
            assertThat(overRdma).isEqualTo(overTcp);
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "unauthenticated")).isEqualTo(3);
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "token_expired")).isEqualTo(1);
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "stale_incarnation")).isEqualTo(1);
            assertThat(n.metric("farmem_agent_rdma_hellos_refused_total", "out_of_range")).isEqualTo(1);
        }
    }

    @Test
    void fencingASlabReRegistersItTheOldKeyFailsFencedAndANewClaimFindsItZeroed() throws Exception {
        try (Node n = node(16, Duration.ofMinutes(5))) {
            int rkeyBefore;
            try (RawClient c = connected(n)) {
                c.send(hello(token(n, "claim-1", 1, 3)));
                RawClient.Reply r = c.receive(WAIT_MS);
                assertThat(r.type()).as("%s", r).isEqualTo(RdmaProtocol.HELLO_OK);
                rkeyBefore = r.grants().get(0).rkey();
            }
            MemoryNodeConnection old = rdma.connect(n.endpoint(), token(n, "claim-1", 1, 3)).join();
            ByteBuffer data = ByteBuffer.allocateDirect(4096);
            for (int i = 0; i < 4096; i++) data.put(i, (byte) (i * 7 + 1));
            old.writev(3, new WriteBatch().add(0, data, 0, 4096)).join();
            assertThat(n.metric("farmem_agent_rdma_slab_registrations_total")).isEqualTo(1);

            // The same claim attaches again with a newer epoch: the slab is re-registered, the data stays.
            int rkeyAfter;
            try (RawClient c = connected(n)) {
                c.send(hello(token(n, "claim-1", 2, 3)));
                RawClient.Reply r = c.receive(WAIT_MS);
                assertThat(r.type()).as("%s", r).isEqualTo(RdmaProtocol.HELLO_OK);
                rkeyAfter = r.grants().get(0).rkey();
            }
            assertThat(rkeyAfter).as("a fenced slab gets a new key").isNotEqualTo(rkeyBefore);
            assertThat(n.metric("farmem_agent_rdma_slab_revocations_total")).isEqualTo(1);
            assertThat(n.metric("farmem_agent_rdma_slab_registrations_total")).isEqualTo(2);
            ByteBuffer back = ByteBuffer.allocateDirect(4096);
            Throwable fenced = old.read(3, 0, back).handle((v, t) -> t).join();
            assertThat(fenced).as("the old key's READ").isNotNull();
            assertThat(codeOf(fenced)).isEqualTo(ErrorCode.FENCED);
            old.close();

            try (MemoryNodeConnection newer = rdma.connect(n.endpoint(), token(n, "claim-1", 2, 3)).join()) {
                newer.read(3, 0, back).join();
                assertThat(back.clear()).isEqualTo(data.clear());
            }
            // Another claim takes the slab over: it reads zeros.
            try (MemoryNodeConnection other = rdma.connect(n.endpoint(), token(n, "claim-2", 3, 3)).join()) {
                other.read(3, 0, back.clear()).join();
                for (int i = 0; i < 4096; i++) assertThat(back.get(i)).as("byte %d", i).isZero();
            }
            assertThat(n.metric("farmem_agent_rdma_slab_revocations_total")).isEqualTo(2);
        }
    }

    @Test
    void theConnectionGaugeCountsOpenRdmaConnections() throws Exception {
        try (Node n = node(16, Duration.ofMinutes(5))) {
            try (MemoryNodeConnection c = rdma.connect(n.endpoint(), token(n, "claim-1", 1, 5)).join()) {
                assertThat(n.metric("farmem_agent_rdma_connections")).isEqualTo(1);
                assertThat(n.agent().rdma().connections()).isEqualTo(1);
            }
        }
    }
}
