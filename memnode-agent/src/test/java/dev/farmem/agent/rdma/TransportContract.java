package dev.farmem.agent.rdma;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.Endpoint;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What every transport must do, run against real agents: TCP on the host ({@link TcpTransportContractTest}), RDMA in
 * the Soft-RoCE guest ({@link RdmaTransportContract}, launched by {@link RdmaTransportGuestTest}). Round trips,
 * pipelining, back-pressure, refused tokens, fencing, zeroing, bad input and node loss, with the same assertions.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class TransportContract {

    static final long SLAB = 1L << 20;
    static final int BLOCK = 4096;

    EmbeddedPool pool;
    Transport transport;
    TokenIssuer issuer;

    /** Agents of {@code capacity} bytes in slabs of {@code slab}, serving this transport. */
    abstract EmbeddedPool startPool(int agents, long capacity, long slab);

    abstract Transport openTransport();

    /** A transport that holds at most about four 4 KiB requests in flight per connection. */
    abstract Transport openTightTransport();

    @BeforeAll
    void start() {
        pool = startPool(2, 32 * SLAB, SLAB);
        transport = openTransport();
        issuer = new TokenIssuer(pool.key());
    }

    @AfterAll
    void stop() {
        if (transport != null) transport.close();
        if (pool != null) pool.close();
    }

    MemoryNodeConnection connect(Binding b, Binding.Location loc) {
        return transport.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
    }

    Endpoint agent(int i) {
        return pool.agents().get(i).endpoint();
    }

    /** A token for agent-0 issued by hand: slabs the embedded allocator never hands out (28..31). */
    String token(String uid, long epoch, int slab, Rights rights) {
        return issuer.issue(new CapabilityToken("agent-0", pool.incarnation(0), uid, epoch, List.of(new SlabRange(slab, 1)), rights, System.currentTimeMillis() + 60_000));
    }

    static ErrorCode codeOf(Throwable t) {
        Throwable c = t instanceof CompletionException ? t.getCause() : t;
        assertThat(c).isInstanceOf(TransportException.class);
        return ((TransportException) c).code();
    }

    static void assertFails(CompletableFuture<?> f, ErrorCode code) {
        assertThatThrownBy(f::join).satisfies(t -> assertThat(codeOf(t)).as(t.toString()).isEqualTo(code));
    }

    @Test
    void aWriteThenAReadRoundTripsAndPingMeasuresTime() {
        Binding b = pool.bind("round-trip", SLAB, 1, BLOCK);
        Binding.Location loc = b.locate(0).get(0);
        MemoryNodeConnection c = connect(b, loc);
        ByteBuffer src = ByteBuffer.allocateDirect(BLOCK);
        for (int i = 0; i < BLOCK; i++) src.put(i, (byte) (i * 31));
        c.writev(loc.remoteSlab(), new WriteBatch().add(3 * BLOCK, src, 0, BLOCK)).join();
        ByteBuffer heap = ByteBuffer.allocate(BLOCK);
        c.read(loc.remoteSlab(), 3 * BLOCK, heap).join();
        assertThat(heap.position()).as("the destination's position is not moved").isZero();
        assertThat(heap).isEqualTo(src.duplicate().clear());
        assertThat(c.ping().join()).isPositive();
        assertThat(c.isOpen()).isTrue();
        c.close();
        assertThat(c.isOpen()).isFalse();
        assertFails(c.read(loc.remoteSlab(), 0, ByteBuffer.allocate(64)), ErrorCode.CONNECTION_CLOSED);
    }

    /**
     * A write-back hands over up to 1024 segments in one batch (the wire's limit), more than one RDMA chain holds: it lands
     * whole, from memory registered with the transport (a cache's region) and from a plain heap buffer
     * (both copied: the caller may reuse them at return), and reads come back into registered memory.
     */
    @Test
    void batchesOf1024SegmentsFromRegisteredAndPlainMemoryLandWholeAndReadBackIntoRegisteredMemory() {
        Binding b = pool.bind("segments", SLAB, 1, BLOCK);
        Binding.Location loc = b.locate(0).get(0);
        MemoryNodeConnection c = connect(b, loc);
        ByteBuffer region = ByteBuffer.allocateDirect(128 * BLOCK);
        try (Transport.Registration registered = transport.register(region)) {
            Random rnd = new Random(7);
            for (int i = 0; i < 32 * BLOCK; i++) region.put(i, (byte) rnd.nextInt());
            WriteBatch lines = new WriteBatch(1024);
            for (int i = 0; i < 1024; i++) lines.add(i * 128L, region, i * 128, 64); // every other line of 32 blocks
            c.writev(loc.remoteSlab(), lines).join();
            byte[] plain = new byte[1024 * 128];
            rnd.nextBytes(plain);
            WriteBatch runs = new WriteBatch(1024);
            ByteBuffer heap = ByteBuffer.wrap(plain);
            for (int i = 0; i < 1024; i++) runs.add(32L * BLOCK + i * 256L, heap, i * 128, 128); // 128 KiB to copy
            c.writev(loc.remoteSlab(), runs).join();

            List<CompletableFuture<Void>> reads = new ArrayList<>();
            for (int blk = 0; blk < 96; blk++) reads.add(c.read(loc.remoteSlab(), (long) blk * BLOCK, region.slice((32 + blk) * BLOCK, BLOCK)));
            CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).join();
            for (int i = 0; i < 1024; i++) {
                assertThat(region.slice(32 * BLOCK + i * 128, 64)).as("line %d from registered memory", i).isEqualTo(region.slice(i * 128, 64));
                assertThat(region.slice(32 * BLOCK + i * 128 + 64, 64)).as("the gap after line %d", i).isEqualTo(ByteBuffer.allocate(64));
                assertThat(region.slice(64 * BLOCK + i * 256, 128)).as("run %d from plain memory", i).isEqualTo(ByteBuffer.wrap(plain, i * 128, 128));
            }
        }
        c.close();
    }

    /**
     * A write-back as the cache engine sends it: from its registered frames, with a release ({@code writev} with
     * {@code sourcesReleased}). Over RDMA the NIC WRITEs from the frames themselves (64 frames, more than one staging
     * slot holds), so they are released only at the WRITEs' completion; over TCP as they are copied. Either way the
     * release comes exactly once and no later than the acknowledgement, a segment from plain memory in the same batch
     * is copied as ever, every byte reads back, and a refused write releases its sources too.
     */
    @Test
    void aWriteBackFromRegisteredFramesReleasesThemOnceByItsAcknowledgementAndReadsBack() {
        Binding b = pool.bind("zero-copy", SLAB, 1, BLOCK);
        Binding.Location loc = b.locate(0).get(0);
        MemoryNodeConnection c = connect(b, loc);
        ByteBuffer frames = ByteBuffer.allocateDirect(64 * BLOCK);
        try (Transport.Registration registered = transport.register(frames)) {
            Random rnd = new Random(11);
            for (int i = 0; i < 64 * BLOCK; i++) frames.put(i, (byte) rnd.nextInt());
            byte[] plain = new byte[BLOCK];
            rnd.nextBytes(plain);
            WriteBatch batch = new WriteBatch(65);
            for (int f = 0; f < 64; f++) batch.add((long) f * BLOCK, frames, f * BLOCK, BLOCK);
            batch.add(64L * BLOCK, ByteBuffer.wrap(plain), 0, BLOCK);
            AtomicInteger released = new AtomicInteger();
            int releasedAtAck = c.writev(loc.remoteSlab(), batch, released::incrementAndGet).thenApply(v -> released.get()).join();
            assertThat(releasedAtAck).as("released by the acknowledgement").isEqualTo(1);
            assertThat(released).as("released once").hasValue(1);

            ByteBuffer back = ByteBuffer.allocate(65 * BLOCK);
            List<CompletableFuture<Void>> reads = new ArrayList<>();
            for (int blk = 0; blk < 65; blk++) reads.add(c.read(loc.remoteSlab(), (long) blk * BLOCK, back.slice(blk * BLOCK, BLOCK)));
            CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).join();
            assertThat(back.slice(0, 64 * BLOCK)).as("the frames").isEqualTo(frames.duplicate().clear());
            assertThat(back.slice(64 * BLOCK, BLOCK)).as("the plain block").isEqualTo(ByteBuffer.wrap(plain));

            AtomicInteger refusedReleased = new AtomicInteger();
            assertFails(c.writev(loc.remoteSlab(), new WriteBatch().add(SLAB - 32, frames, 0, BLOCK), refusedReleased::incrementAndGet),
                    ErrorCode.OUT_OF_RANGE);
            assertThat(refusedReleased).as("a refused write's sources are released too").hasValue(1);
        }
        c.close();
    }

    @Test
    void concurrentClientsWritingAndReadingPipelinedGetBackEveryByte() throws Exception {
        int clients = 3;
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
    private void writeAndVerify(Binding b, long seed) {
        Random rnd = new Random(seed);
        int blocks = 32;
        for (long s = 0; s < b.slabCount(); s++) {
            byte[] model = new byte[blocks * BLOCK];
            List<MemoryNodeConnection> replicas = new ArrayList<>();
            for (Binding.Location loc : b.locate(s)) replicas.add(connect(b, loc));
            List<CompletableFuture<Void>> inFlight = new ArrayList<>();
            ByteBuffer src = ByteBuffer.allocateDirect(BLOCK);
            for (int op = 0; op < 200; op++) {
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
                for (int r = 0; r < replicas.size(); r++) inFlight.add(replicas.get(r).writev(b.locate(s).get(r).remoteSlab(), batch));
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
                assertThat(got).as("slab %d replica %d", s, r).isEqualTo(model);
            }
            replicas.forEach(MemoryNodeConnection::close);
        }
    }

    @Test
    void oneConnectionSharedByManyThreadsUnderTightBackPressureCompletesEverything() throws Exception {
        try (Transport tight = openTightTransport()) {
            Binding b = pool.bind("shared", SLAB, 1, BLOCK);
            Binding.Location loc = b.locate(0).get(0);
            MemoryNodeConnection c = tight.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
            ByteBuffer pattern = ByteBuffer.allocateDirect(BLOCK);
            for (int i = 0; i < pattern.capacity(); i++) pattern.put(i, (byte) (i / 7));
            c.writev(loc.remoteSlab(), new WriteBatch().add(0, pattern, 0, pattern.capacity())).join();
            ExecutorService threads = Executors.newFixedThreadPool(3);
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < 3; t++) {
                done.add(threads.submit(() -> {
                    List<CompletableFuture<Void>> reads = new ArrayList<>();
                    List<ByteBuffer> dsts = new ArrayList<>();
                    for (int i = 0; i < 300; i++) {
                        ByteBuffer dst = ByteBuffer.allocate(BLOCK);
                        dsts.add(dst);
                        reads.add(c.read(loc.remoteSlab(), 0, dst)); // waits for room many times
                    }
                    CompletableFuture.allOf(reads.toArray(CompletableFuture[]::new)).join();
                    for (ByteBuffer d : dsts) assertThat(d).isEqualTo(pattern.duplicate().clear());
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
            threads.shutdown();
            c.close();
        }
    }

    @Test
    void requestsSentFromCompletionCallbacksNeitherDeadlockNorLoseRoom() {
        try (Transport tight = openTightTransport()) {
            Binding b = pool.bind("chained", SLAB, 1, BLOCK);
            Binding.Location loc = b.locate(0).get(0);
            MemoryNodeConnection c = tight.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
            CompletableFuture<Void> first = new CompletableFuture<>();
            CompletableFuture<Void> chain = first;
            for (int i = 0; i < 100; i++) {
                int n = i;
                chain = chain.thenCompose(x -> {
                    // Fan out from the completion thread: more requests than the transport holds in flight.
                    List<CompletableFuture<Void>> fan = new ArrayList<>();
                    for (int k = 0; k < 8; k++) fan.add(c.read(loc.remoteSlab(), ((n + k) % 16) * (long) BLOCK, ByteBuffer.allocate(BLOCK)));
                    return CompletableFuture.allOf(fan.toArray(CompletableFuture[]::new));
                });
            }
            first.complete(null);
            chain.join();
            List<CompletableFuture<Void>> after = new ArrayList<>();
            for (int i = 0; i < 4; i++) after.add(c.read(loc.remoteSlab(), 0, ByteBuffer.allocate(BLOCK)));
            CompletableFuture.allOf(after.toArray(CompletableFuture[]::new)).join();
            c.close();
        }
    }

    @Test
    void tokensFromAnotherPoolOrForAnotherNodeAreRefusedAtConnect() {
        String foreignPool = new TokenIssuer(TokenKey.generate()).issue("agent-0", pool.incarnation(0), "u", 1, 28, 1, Rights.READ_WRITE, Long.MAX_VALUE);
        assertFails(transport.connect(agent(0), foreignPool), ErrorCode.UNAUTHENTICATED);
        String otherNode = issuer.issue("agent-1", pool.incarnation(1), "u", 1, 28, 1, Rights.READ_WRITE, Long.MAX_VALUE);
        assertFails(transport.connect(agent(0), otherNode), ErrorCode.UNAUTHENTICATED);
        String expired = issuer.issue("agent-0", pool.incarnation(0), "u", 1, 28, 1, Rights.READ_WRITE, System.currentTimeMillis() - 1);
        assertFails(transport.connect(agent(0), expired), ErrorCode.TOKEN_EXPIRED);
        String beyond = issuer.issue("agent-0", pool.incarnation(0), "u", 1, 40, 1, Rights.READ_WRITE, Long.MAX_VALUE);
        assertFails(transport.connect(agent(0), beyond), ErrorCode.OUT_OF_RANGE);
    }

    @Test
    void foreignSlabsReadOnlyWritesOutOfRangeAndBadInputAreRefusedAndTheConnectionGoesOn() {
        MemoryNodeConnection c = transport.connect(agent(0), token("own-29", 100, 29, Rights.READ)).join();
        ByteBuffer dst = ByteBuffer.allocate(64);
        assertFails(c.read(30, 0, dst), ErrorCode.FORBIDDEN);
        assertFails(c.writev(29, new WriteBatch().add(0, ByteBuffer.allocate(64), 0, 64)), ErrorCode.FORBIDDEN);
        assertFails(c.read(29, SLAB - 32, dst), ErrorCode.OUT_OF_RANGE);
        assertFails(c.read(29, Long.MAX_VALUE - 10, dst), ErrorCode.OUT_OF_RANGE);
        assertThatThrownBy(() -> c.read(29, -1, dst).join()).hasCauseInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> c.read(29, 0, ByteBuffer.allocate(2 << 20)).join()).hasMessageContaining("split it");
        c.read(29, 0, dst).join();
        assertThat(c.ping().join()).isPositive();
        assertThat(c.isOpen()).isTrue();
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
        assertFails(transport.connect(loc.endpoint(), first.nodes().get(loc.node()).token()), ErrorCode.FENCED);
        ByteBuffer back = ByteBuffer.allocate(128);
        current.read(loc.remoteSlab(), 512, back).join();
        assertThat(back).isEqualTo(data.clear());
        old.close();
        current.close();
    }

    @Test
    void aSlabIsZeroedWhenANewClaimTouchesItAndTheOldClaimIsFencedOut() {
        MemoryNodeConnection a = transport.connect(agent(0), token("claim-a", 200, 28, Rights.READ_WRITE)).join();
        ByteBuffer ones = ByteBuffer.allocate(BLOCK);
        for (int i = 0; i < BLOCK; i++) ones.put(i, (byte) 0x5A);
        a.writev(28, new WriteBatch().add(0, ones, 0, BLOCK)).join();
        a.writev(28, new WriteBatch().add(SLAB - BLOCK, ones, 0, BLOCK)).join();

        MemoryNodeConnection b = transport.connect(agent(0), token("claim-b", 201, 28, Rights.READ_WRITE)).join();
        ByteBuffer seen = ByteBuffer.allocate(BLOCK);
        b.read(28, 0, seen).join();
        assertThat(seen.array()).containsOnly(0);
        b.read(28, SLAB - BLOCK, seen).join();
        assertThat(seen.array()).containsOnly(0);
        assertFails(a.read(28, 0, ByteBuffer.allocate(64)), ErrorCode.FENCED);
        assertFails(transport.connect(agent(0), token("claim-a", 200, 28, Rights.READ_WRITE)), ErrorCode.FENCED);
        a.close();
        b.close();
    }

    @Test
    void pendingRequestsFailWhenTheNodeGoesAway() {
        try (EmbeddedPool doomed = startPool(1, 4 * SLAB, SLAB)) {
            Binding b = doomed.bind("doomed", SLAB, 1, BLOCK);
            MemoryNodeConnection c = transport.connect(b.locate(0).get(0).endpoint(), b.nodes().get("agent-0").token()).join();
            c.ping().join();
            doomed.stopAgent(0);
            assertFails(c.ping(), ErrorCode.CONNECTION_CLOSED);
            assertFails(c.read(0, 0, ByteBuffer.allocate(64)), ErrorCode.CONNECTION_CLOSED);
            assertThat(c.isOpen()).isFalse();
        }
    }
}
