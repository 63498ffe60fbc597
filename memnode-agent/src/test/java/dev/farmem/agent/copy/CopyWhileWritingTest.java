package dev.farmem.agent.copy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.Endpoint;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.wire.BlockingWireClient;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.CopyState;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Re-replication on real agents over loopback: a claim of replication 2 loses a replica; a third agent joins as the
 * new replica and is filled by a copy from the survivor while clients keep writing, one of them still on the binding
 * from before the join. Afterwards every acknowledged write reads back from the new replica alone.
 */
class CopyWhileWritingTest {

    private static final long SLAB = 16L << 20;
    private static final int LINE = 64;
    private static final int LINES = (int) (SLAB / LINE);
    private static final Duration TIMEOUT = Duration.ofSeconds(10);

    private EmbeddedPool pool;
    private TokenIssuer issuer;
    private NettyTransport transport;

    @BeforeEach
    void start() {
        pool = EmbeddedPool.start(3, 4 * SLAB, SLAB);
        issuer = new TokenIssuer(pool.key());
        transport = new NettyTransport();
    }

    @AfterEach
    void stop() {
        transport.close();
        pool.close();
    }

    private String token(int agent, String uid, long epoch, int slab, Rights rights) {
        return issuer.issue(new CapabilityToken("agent-" + agent, pool.incarnation(agent), uid, epoch, List.of(new SlabRange(slab, 1)), rights,
                System.currentTimeMillis() + 3_600_000));
    }

    private Endpoint endpoint(int agent) {
        return pool.agents().get(agent).endpoint();
    }

    private MemoryNodeConnection connect(int agent, String token) {
        return transport.connect(endpoint(agent), token).join();
    }

    /** A line's contents: the writer's value repeated. */
    private static ByteBuffer line(long value) {
        ByteBuffer b = ByteBuffer.allocate(LINE);
        for (int i = 0; i < LINE / 8; i++) b.putLong(value);
        return b.flip();
    }

    @Test
    void everyAcknowledgedWriteReadsBackFromTheNewReplicaAlone() throws Exception {
        Binding b = pool.bind("heal", SLAB, 2, 4096);
        String uid = b.claimUid();
        long oldEpoch = b.epoch();
        // The claim's slab 0 lives on agent-0 (the survivor) and agent-1 (lost); agent-2 joins with its slab 3.
        int survivorSlab = b.extents().get(0).replicas().stream().filter(r -> r.node().equals("agent-0")).findFirst().orElseThrow().firstSlab();
        int joinSlab = 3;
        MemoryNodeConnection before = connect(0, b.nodes().get("agent-0").token());
        // Every line starts with a value of its own, written before the loss.
        AtomicLongArray expected = new AtomicLongArray(LINES);
        for (int chunk = 0; chunk < LINES; chunk += 1024) {
            WriteBatch batch = new WriteBatch();
            for (int l = chunk; l < chunk + 1024; l++) {
                expected.set(l, 1_000_000_000L + l);
                batch.add((long) l * LINE, line(expected.get(l)), 0, LINE);
            }
            before.writev(survivorSlab, batch).join();
        }
        pool.stopAgent(1);

        long epoch = oldEpoch + 1000;
        String copyToken = token(2, uid, epoch, joinSlab, Rights.COPY);
        String sourceToken = token(0, uid, epoch, survivorSlab, Rights.READ);
        String survivorToken = token(0, uid, epoch, survivorSlab, Rights.READ_WRITE);
        String joinedToken = token(2, uid, epoch, joinSlab, Rights.READ_WRITE);

        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong fencedOldWriter = new AtomicLong();
        AtomicLong ackedDuringCopy = new AtomicLong();
        AtomicBoolean copying = new AtomicBoolean();
        try (BlockingWireClient operator = BlockingWireClient.connect(endpoint(2), copyToken, TIMEOUT)) {
            // The join: agent-2's slab is now a replica being filled; the binding with it is published after this.
            Thread oldWriter = writer(0, before, null, survivorSlab, joinSlab, survivorToken, joinedToken, expected, stop, fencedOldWriter, copying, ackedDuringCopy);
            Thread newWriter = writer(1, connect(0, survivorToken), connect(2, joinedToken), survivorSlab, joinSlab, null, null, expected, stop,
                    new AtomicLong(), copying, ackedDuringCopy);
            assertThatThrownBy(() -> connect(2, joinedToken).read(joinSlab, 0, ByteBuffer.allocate(LINE)).join())
                    .hasRootCauseInstanceOf(TransportException.class).rootCause().hasMessageContaining("still being filled");

            copying.set(true);
            CopyOk progress = operator.copy(joinSlab, survivorSlab, 1, endpoint(0), sourceToken);
            for (int polls = 0; progress.state() == CopyState.RUNNING && polls < 10_000; polls++) {
                Thread.sleep(5);
                progress = operator.copy(joinSlab, survivorSlab, 1, endpoint(0), sourceToken);
            }
            copying.set(false);
            assertThat(progress.state()).as(progress.message()).isEqualTo(CopyState.DONE);
            assertThat(progress.bytesToGo()).isZero();
            assertThat(progress.bytesCopied()).isPositive().isLessThanOrEqualTo(SLAB);
            Thread.sleep(50); // some writes after the copy too
            stop.set(true);
            oldWriter.join();
            newWriter.join();
        }
        assertThat(fencedOldWriter.get()).as("the writer on the old binding was fenced by the copy's HELLO").isPositive();

        // The new replica alone: every line is the last value acknowledged for it.
        MemoryNodeConnection joined = connect(2, joinedToken);
        ByteBuffer all = ByteBuffer.allocate((int) SLAB);
        for (int off = 0; off < SLAB; off += 512 * 1024) {
            joined.read(joinSlab, off, all.duplicate().position(off).limit(off + 512 * 1024).slice()).join();
        }
        for (int l = 0; l < LINES; l++) {
            for (int i = 0; i < LINE / 8; i++) {
                long v = all.getLong(l * LINE + i * 8);
                if (v != expected.get(l)) throw new AssertionError("line " + l + " of the new replica holds " + v + ", the last acknowledged write was " + expected.get(l));
            }
        }
        assertThat(pool.agents().get(2).agent().metrics().registry().getSampleValue("farmem_agent_copy_bytes_to_go")).isZero();
        System.out.println("copy while writing: " + ackedDuringCopy.get() + " writes acknowledged during the copy");
    }

    /**
     * A client that writes lines {@code id, id + 2, ...} in turn, each acknowledged before the next, and records the last
     * acknowledged value of each. With {@code joined} null it starts on the old binding (survivor only): once fenced
     * it re-reads the binding ({@code newSurvivorToken}, {@code newJoinedToken}) and writes to both replicas.
     */
    private Thread writer(int id, MemoryNodeConnection survivor, MemoryNodeConnection joined, int survivorSlab, int joinSlab,
                          String newSurvivorToken, String newJoinedToken, AtomicLongArray expected, AtomicBoolean stop, AtomicLong fenced,
                          AtomicBoolean copying, AtomicLong ackedDuringCopy) {
        Thread t = new Thread(() -> {
            MemoryNodeConnection s = survivor;
            MemoryNodeConnection j = joined;
            Random random = new Random(id);
            long value = (id + 1L) << 40;
            for (long n = 0; !stop.get() && n < 5_000_000; n++) {
                int l = 2 * random.nextInt(LINES / 2) + id;
                long v = ++value;
                WriteBatch batch = new WriteBatch().add((long) l * LINE, line(v), 0, LINE);
                try {
                    if (j == null) {
                        s.writev(survivorSlab, batch).join();
                    } else {
                        var a = s.writev(survivorSlab, batch);
                        var c = j.writev(joinSlab, batch);
                        a.join();
                        c.join();
                    }
                    expected.set(l, v);
                    if (copying.get()) ackedDuringCopy.incrementAndGet();
                } catch (CompletionException e) {
                    if (e.getCause() instanceof TransportException te && te.code() == ErrorCode.FENCED && j == null) {
                        // Not acknowledged: the binding is re-read, and the write goes out again to both replicas.
                        fenced.incrementAndGet();
                        s.close();
                        s = connect(0, newSurvivorToken);
                        j = connect(2, newJoinedToken);
                        n--;
                        value--;
                        continue;
                    }
                    throw e;
                }
            }
        }, "writer-" + id);
        t.setDaemon(true);
        t.start();
        return t;
    }

    @Test
    void aCopyThatFailedIsRestartedByTheNextCopyAndResumes() {
        Binding b = pool.bind("resume", SLAB, 1, 4096);
        String uid = b.claimUid();
        Binding.Replica r = b.extents().get(0).replicas().get(0);
        int source = Integer.parseInt(r.node().substring("agent-".length()));
        int dest = (source + 1) % 3;
        long epoch = b.epoch() + 1000;
        String sourceToken = token(source, uid, epoch, r.firstSlab(), Rights.READ);
        try (BlockingWireClient operator = BlockingWireClient.connect(endpoint(dest), token(dest, uid, epoch, 2, Rights.COPY), TIMEOUT)) {
            CopyOk failed = operator.copy(2, r.firstSlab(), 1, new Endpoint("127.0.0.1", 1), sourceToken);
            for (int polls = 0; failed.state() == CopyState.RUNNING && polls < 10_000; polls++) failed = operator.copy(2, r.firstSlab(), 1, new Endpoint("127.0.0.1", 1), sourceToken);
            assertThat(failed.state()).isEqualTo(CopyState.FAILED);
            assertThat(failed.message()).contains("127.0.0.1:1").contains("sending COPY again resumes it");
            assertThat(failed.bytesToGo()).isEqualTo(SLAB);

            CopyOk done = operator.copy(2, r.firstSlab(), 1, endpoint(source), sourceToken);
            for (int polls = 0; done.state() == CopyState.RUNNING && polls < 10_000; polls++) done = operator.copy(2, r.firstSlab(), 1, endpoint(source), sourceToken);
            assertThat(done.state()).as(done.message()).isEqualTo(CopyState.DONE);
            assertThat(done.bytesToGo()).isZero();
        }
    }

    @Test
    void onlyACopyTokenOfTheSameClaimAndEpochMayAskForACopy() {
        Binding b = pool.bind("refused", SLAB, 1, 4096);
        Binding.Replica r = b.extents().get(0).replicas().get(0);
        int source = Integer.parseInt(r.node().substring("agent-".length()));
        int dest = (source + 1) % 3;
        long epoch = b.epoch() + 1000;
        try (BlockingWireClient client = BlockingWireClient.connect(endpoint(dest), token(dest, b.claimUid(), epoch, 2, Rights.READ_WRITE), TIMEOUT)) {
            assertThatThrownBy(() -> client.copy(2, r.firstSlab(), 1, endpoint(source), token(source, b.claimUid(), epoch, r.firstSlab(), Rights.READ)))
                    .isInstanceOf(TransportException.class).hasMessageContaining("COPY right");
        }
        try (BlockingWireClient operator = BlockingWireClient.connect(endpoint(dest), token(dest, b.claimUid(), epoch, 2, Rights.COPY), TIMEOUT)) {
            assertThatThrownBy(() -> operator.copy(2, r.firstSlab(), 1, endpoint(source), token(source, "another-claim", epoch, r.firstSlab(), Rights.READ)))
                    .isInstanceOf(TransportException.class).hasMessageContaining("same attach");
            assertThatThrownBy(() -> operator.copy(1, r.firstSlab(), 2, endpoint(source), token(source, b.claimUid(), epoch, r.firstSlab(), Rights.READ)))
                    .isInstanceOf(TransportException.class).hasMessageContaining("does not grant slab 1");
        }
    }
}
