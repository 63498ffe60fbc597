package dev.farmem.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.wire.Protocol;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Real agents and real clients over loopback. */
class AgentServerLoopbackTest {

    static final long SLAB = 1L << 20;
    static final int BLOCK = 4096;
    static EmbeddedPool pool;
    static NettyTransport tcp;
    static TokenIssuer issuer;

    @BeforeAll
    static void start() {
        pool = EmbeddedPool.start(2, 32 * SLAB, SLAB);
        tcp = new NettyTransport();
        issuer = new TokenIssuer(pool.key());
    }

    @AfterAll
    static void stop() {
        tcp.close();
        pool.close();
    }

    static MemoryNodeConnection connect(Binding b, Binding.Location loc) {
        return tcp.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
    }

    static Endpoint agent(int i) {
        return pool.agents().get(i).endpoint();
    }

    /** A token for agent-0 issued by hand: tests of slabs the embedded allocator never hands out (28..31). */
    static String token(String uid, long epoch, int slab, Rights rights) {
        return issuer.issue(new CapabilityToken("agent-0", pool.incarnation(0), uid, epoch, List.of(new SlabRange(slab, 1)), rights, System.currentTimeMillis() + 60_000));
    }

    static ErrorCode codeOf(Throwable t) {
        Throwable c = t instanceof CompletionException ? t.getCause() : t;
        assertThat(c).isInstanceOf(TransportException.class);
        return ((TransportException) c).code();
    }

    static void assertFails(CompletableFuture<?> f, ErrorCode code) {
        assertThatThrownBy(f::join).satisfies(t -> assertThat(codeOf(t)).isEqualTo(code));
    }

    @Test
    void concurrentClientsWritingAndReadingPipelinedGetBackEveryByte() throws Exception {
        int clients = 4;
        ExecutorService threads = Executors.newFixedThreadPool(clients);
        List<Future<?>> done = new ArrayList<>();
        for (int t = 0; t < clients; t++) {
            long seed = 1000 + t;
            Binding b = pool.bind("concurrent-" + t, 2 * SLAB, 2, BLOCK);
            done.add(threads.submit(() -> writeAndVerify(b, seed)));
        }
        for (Future<?> f : done) f.get();
        threads.shutdown();
    }

    /** Random sparse WRITEVs to every replica, many in flight, then every block read back and compared with a model. */
    private static void writeAndVerify(Binding b, long seed) {
        Random rnd = new Random(seed);
        int blocks = 64;
        for (long s = 0; s < b.slabCount(); s++) {
            byte[] model = new byte[blocks * BLOCK];
            List<MemoryNodeConnection> replicas = new ArrayList<>();
            for (Binding.Location loc : b.locate(s)) replicas.add(connect(b, loc));
            int remote0 = b.locate(s).get(0).remoteSlab();
            List<CompletableFuture<Void>> inFlight = new ArrayList<>();
            ByteBuffer src = ByteBuffer.allocateDirect(BLOCK);
            for (int op = 0; op < 400; op++) {
                int block = rnd.nextInt(blocks);
                WriteBatch batch = new WriteBatch();
                int line = rnd.nextInt(8);
                while (line < 64) {
                    int run = 1 + rnd.nextInt(3);
                    if (line + run > 64) run = 64 - line;
                    for (int i = line * 64; i < (line + run) * 64; i++) {
                        byte v = (byte) rnd.nextInt();
                        src.put(i, v);
                        model[block * BLOCK + i] = v;
                    }
                    batch.add((long) block * BLOCK + line * 64L, src, line * 64, run * 64);
                    line += run + 1 + rnd.nextInt(12);
                }
                for (int r = 0; r < replicas.size(); r++) {
                    inFlight.add(replicas.get(r).writev(b.locate(s).get(r).remoteSlab(), batch));
                }
            }
            CompletableFuture.allOf(inFlight.toArray(CompletableFuture[]::new)).join();
            for (int r = 0; r < replicas.size(); r++) {
                ByteBuffer all = ByteBuffer.allocateDirect(blocks * BLOCK);
                List<CompletableFuture<Void>> reads = new ArrayList<>();
                for (int blk = 0; blk < blocks; blk++) {
                    reads.add(replicas.get(r).read(b.locate(s).get(r).remoteSlab(), (long) blk * BLOCK, all.slice(blk * BLOCK, BLOCK)));
                }
                CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).join();
                byte[] got = new byte[model.length];
                all.get(got);
                assertThat(got).as("slab %d replica %d (remote %d)", s, r, remote0).isEqualTo(model);
            }
            replicas.forEach(MemoryNodeConnection::close);
        }
    }

    @Test
    void oneConnectionSharedByManyThreadsUnderTightBackPressureCompletesEverything() throws Exception {
        try (NettyTransport tight = new NettyTransport(TcpOptions.defaults().withMaxBytesInFlight(1 << 20).withIoThreads(1))) {
            Binding b = pool.bind("shared", SLAB, 1, BLOCK);
            Binding.Location loc = b.locate(0).get(0);
            MemoryNodeConnection c = tight.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
            ByteBuffer pattern = ByteBuffer.allocateDirect(BLOCK * 4);
            for (int i = 0; i < pattern.capacity(); i++) pattern.put(i, (byte) (i / 7));
            c.writev(loc.remoteSlab(), new WriteBatch().add(0, pattern, 0, pattern.capacity())).join();
            ExecutorService threads = Executors.newFixedThreadPool(4);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                done.add(threads.submit(() -> {
                    List<CompletableFuture<Void>> reads = new ArrayList<>();
                    List<ByteBuffer> dsts = new ArrayList<>();
                    for (int i = 0; i < 2000; i++) {
                        ByteBuffer dst = ByteBuffer.allocate(BLOCK * 4);
                        dsts.add(dst);
                        reads.add(c.read(loc.remoteSlab(), 0, dst)); // 2000 x 16 KiB: waits for room many times
                    }
                    CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).join();
                    for (ByteBuffer d : dsts) assertThat(d).isEqualTo(pattern.duplicate().clear());
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
            threads.shutdown();
        }
    }

    @Test
    void requestsSentFromCompletionCallbacksNeitherDeadlockNorLeakRoom() {
        // Room for just over one frame: chained 64 KiB reads from the I/O thread must still all complete,
        // and afterwards a caller thread must find all the room returned.
        int bound = (1 << 20) + 4096;
        try (NettyTransport tight = new NettyTransport(TcpOptions.defaults().withMaxBytesInFlight(bound).withIoThreads(1))) {
            Binding b = pool.bind("chained", SLAB, 1, BLOCK);
            Binding.Location loc = b.locate(0).get(0);
            MemoryNodeConnection c = tight.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
            CompletableFuture<Void> first = new CompletableFuture<>();
            CompletableFuture<Void> chain = first;
            for (int i = 0; i < 200; i++) {
                int n = i;
                chain = chain.thenCompose(x -> c.read(loc.remoteSlab(), (n % 16) * 65536L, ByteBuffer.allocate(65536)));
            }
            first.complete(null);
            chain.join();
            // Every request of the chain returned its room: one read of nearly the whole bound goes through at once.
            c.read(loc.remoteSlab(), 0, ByteBuffer.allocate(bound - Protocol.HEADER_SIZE - 4096)).join();
            c.close();
        }
    }

    @Test
    void tokensFromAnotherPoolOrForAnotherNodeAreRefusedAtConnect() {
        String foreignPool = new TokenIssuer(TokenKey.generate()).issue("agent-0", pool.incarnation(0), "u", 1, 28, 1, Rights.READ_WRITE, Long.MAX_VALUE);
        assertFails(tcp.connect(agent(0), foreignPool), ErrorCode.UNAUTHENTICATED);
        String otherNode = issuer.issue("agent-1", pool.incarnation(1), "u", 1, 28, 1, Rights.READ_WRITE, Long.MAX_VALUE);
        assertFails(tcp.connect(agent(0), otherNode), ErrorCode.UNAUTHENTICATED);
        String expired = issuer.issue("agent-0", pool.incarnation(0), "u", 1, 28, 1, Rights.READ_WRITE, System.currentTimeMillis() - 1);
        assertFails(tcp.connect(agent(0), expired), ErrorCode.TOKEN_EXPIRED);
        String beyond = issuer.issue("agent-0", pool.incarnation(0), "u", 1, 40, 1, Rights.READ_WRITE, Long.MAX_VALUE);
        assertFails(tcp.connect(agent(0), beyond), ErrorCode.OUT_OF_RANGE);
    }

    @Test
    void foreignSlabsReadOnlyWritesAndOutOfRangeAreRefusedAndTheConnectionGoesOn() {
        AgentMetrics metrics = pool.agents().get(0).agent().metrics();
        double forbiddenBefore = metrics.errors(ErrorCode.FORBIDDEN);
        MemoryNodeConnection c = tcp.connect(agent(0), token("own-29", 100, 29, Rights.READ)).join();
        ByteBuffer dst = ByteBuffer.allocate(64);
        assertFails(c.read(30, 0, dst), ErrorCode.FORBIDDEN);
        assertFails(c.writev(29, new WriteBatch().add(0, ByteBuffer.allocate(64), 0, 64)), ErrorCode.FORBIDDEN);
        assertFails(c.read(29, SLAB - 32, dst), ErrorCode.OUT_OF_RANGE);
        assertFails(c.read(29, Long.MAX_VALUE - 10, dst), ErrorCode.OUT_OF_RANGE);
        c.read(29, 0, dst).join();
        assertThat(c.ping().join()).isPositive();
        assertThat(c.isOpen()).isTrue();
        assertThat(metrics.errors(ErrorCode.FORBIDDEN) - forbiddenBefore).isEqualTo(2);
        assertThatThrownBy(() -> c.read(29, 0, ByteBuffer.allocate(2 << 20)).join()).hasMessageContaining("split it");
        c.close();
    }

    @Test
    void anOlderEpochIsFencedAndTheNewAttachKeepsTheData() {
        Binding first = pool.bind("fenced", SLAB, 1, BLOCK);
        Binding.Location loc = first.locate(0).get(0);
        MemoryNodeConnection old = connect(first, loc);
        ByteBuffer data = ByteBuffer.allocate(128);
        for (int i = 0; i < 128; i++) data.put(i, (byte) (i + 1));
        old.writev(loc.remoteSlab(), new WriteBatch().add(512, data, 0, 128)).join();

        Binding second = pool.reattach(first);
        assertThat(second.epoch()).isGreaterThan(first.epoch());
        MemoryNodeConnection current = connect(second, loc);

        assertFails(old.writev(loc.remoteSlab(), new WriteBatch().add(512, ByteBuffer.allocate(128), 0, 128)), ErrorCode.FENCED);
        assertFails(old.read(loc.remoteSlab(), 512, ByteBuffer.allocate(128)), ErrorCode.FENCED);
        assertFails(tcp.connect(loc.endpoint(), first.nodes().get(loc.node()).token()), ErrorCode.FENCED);
        ByteBuffer back = ByteBuffer.allocate(128);
        current.read(loc.remoteSlab(), 512, back).join();
        assertThat(back).isEqualTo(data.clear());
        old.close();
        current.close();
    }

    @Test
    void aSlabIsZeroedWhenANewClaimTouchesItAndTheOldClaimIsFencedOut() {
        MemoryNodeConnection a = tcp.connect(agent(0), token("claim-a", 200, 28, Rights.READ_WRITE)).join();
        ByteBuffer ones = ByteBuffer.allocate(BLOCK);
        for (int i = 0; i < BLOCK; i++) ones.put(i, (byte) 0x5A);
        a.writev(28, new WriteBatch().add(0, ones, 0, BLOCK).add(SLAB - BLOCK, ones, 0, BLOCK)).join();

        MemoryNodeConnection b = tcp.connect(agent(0), token("claim-b", 201, 28, Rights.READ_WRITE)).join();
        ByteBuffer seen = ByteBuffer.allocate(BLOCK);
        b.read(28, 0, seen).join();
        assertThat(seen.array()).containsOnly(0);
        b.read(28, SLAB - BLOCK, seen).join();
        assertThat(seen.array()).containsOnly(0);
        assertFails(a.read(28, 0, ByteBuffer.allocate(64)), ErrorCode.FENCED);
        assertFails(tcp.connect(agent(0), token("claim-a", 200, 28, Rights.READ_WRITE)), ErrorCode.FENCED);
        a.close();
        b.close();
    }

    @Test
    void pendingRequestsFailWhenTheNodeGoesAway() {
        try (EmbeddedPool doomed = EmbeddedPool.start(1, 4 * SLAB, SLAB)) {
            Binding b = doomed.bind("doomed", SLAB, 1, BLOCK);
            MemoryNodeConnection c = tcp.connect(b.locate(0).get(0).endpoint(), b.nodes().get("agent-0").token()).join();
            c.ping().join();
            doomed.stopAgent(0);
            CompletableFuture<Void> after = c.read(0, 0, ByteBuffer.allocate(64));
            assertFails(after, ErrorCode.CONNECTION_CLOSED);
            assertThat(c.isOpen()).isFalse();
        }
    }

    @Test
    void aNodeThatNeverAnswersTimesOutTheRequest() throws Exception {
        // A node that accepts the HELLO and then stalls: the one behaviour a real agent cannot be made to show.
        try (ServerSocket silent = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress());
             NettyTransport quick = new NettyTransport(TcpOptions.defaults().withRequestTimeout(Duration.ofMillis(300)).withIoThreads(1))) {
            Thread server = new Thread(() -> answerHelloThenStall(silent, sock -> { }));
            server.setDaemon(true);
            server.start();
            MemoryNodeConnection c = quick.connect(new Endpoint("127.0.0.1", silent.getLocalPort()), token("t", 1, 28, Rights.READ)).join();
            assertFails(c.read(28, 0, ByteBuffer.allocate(64)), ErrorCode.TIMEOUT);
            c.close();
        }
    }

    private static void answerHelloThenStall(ServerSocket server, Consumer<Socket> then) {
        try (Socket s = server.accept()) {
            InputStream in = s.getInputStream();
            byte[] head = in.readNBytes(8 + 16);
            int bodyLength = (head[8] & 0xFF | (head[9] & 0xFF) << 8) - 12;
            in.readNBytes(bodyLength);
            io.netty.buffer.ByteBuf ok = dev.farmem.transport.wire.WireCodec.helloOk(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT,
                    1, 1 << 20, SLAB, 32, 1024);
            byte[] bytes = new byte[ok.readableBytes()];
            ok.readBytes(bytes);
            ok.release();
            s.getOutputStream().write(bytes);
            then.accept(s);
            in.readAllBytes();
        } catch (java.io.IOException ignored) {
            // the client closed
        }
    }
}
