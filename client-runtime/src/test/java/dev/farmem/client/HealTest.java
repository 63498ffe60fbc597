package dev.farmem.client;

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
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.BlockingWireClient;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.CopyState;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An in-process far memory opened from a binding file follows a heal by itself, on real agents over loopback, done the
 * way the operator does it ({@code operator/claim/ReplicaHealing}): a replica's node is lost; the new replica's slab
 * joins with a COPY token; the binding at a new epoch names it {@code filling}; the survivor is fenced at that epoch
 * (here before the file shows the new binding, as a kubelet that refreshes the mounted Secret late); the new replica is
 * filled by a COPY from the survivor; the binding is written again with the new replica complete. No request of the
 * application fails, and every acknowledged write reads back afterwards from the new replica alone, through a fresh
 * client with an empty cache.
 */
class HealTest {

    private static final long MIB = 1 << 20;
    private static final int JOIN_SLAB = 5;
    private static final Duration AGENT_TIMEOUT = Duration.ofSeconds(10);
    /** How late the file shows a binding the operator wrote (the kubelet's refresh of a mounted Secret, shortened). */
    private static final long FILE_LAG_MILLIS = 500;

    private EmbeddedPool pool;
    private TokenIssuer issuer;

    @BeforeEach
    void start() {
        pool = EmbeddedPool.start(3, 8 * MIB, MIB);
        issuer = new TokenIssuer(pool.key());
    }

    @AfterEach
    void stop() {
        pool.close();
    }

    @Test
    void aFarMemoryOpenedFromItsBindingFileKeepsWritingAcrossAHealAndLosesNoAcknowledgedWrite(@TempDir Path dir) throws Exception {
        Binding b = pool.bind("healed", MIB, 2, 4096); // agent-0 (survives) and agent-1 (lost)
        Path file = dir.resolve("binding.json");
        write(file, b);
        long blocks = MIB / 4096;
        int threads = 3;
        long[] lastRound = new long[threads];
        try (FarMemory mem = FarMemory.open(file, FarMemoryOptions.defaults().cacheBytes(128 * 1024).bindingPollMillis(50))) {
            FarLongArray arr = mem.longArray(0, MIB / 8);
            AtomicBoolean stop = new AtomicBoolean();
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicLongArray acknowledged = new AtomicLongArray(threads);
            List<Thread> writers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int me = t;
                // Each thread owns one line of every block (eight times the cache): evictions write back all along, and a round is
                // acknowledged when the flush after it returned.
                Thread w = new Thread(() -> {
                    try {
                        for (long round = 1; !stop.get(); round++) {
                            for (long block = 0; block < blocks; block++) {
                                long i = block * 512 + me * 8L;
                                if (round > 1) assertThat(arr.get(i)).as("long %d after round %d", i, round - 1).isEqualTo(value(i, round - 1));
                                arr.set(i, value(i, round));
                            }
                            mem.flush();
                            acknowledged.set(me, round);
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }, "writer-" + t);
                w.start();
                writers.add(w);
            }
            awaitMoreRounds(acknowledged, 2, failure);
            pool.stopAgent(1); // the memory node is Lost
            awaitMoreRounds(acknowledged, 2, failure);

            long epoch = b.epoch() + 1000;
            int survivorSlab = slabOn(b, 0, "agent-0");
            Endpoint agent0 = endpoint(0);
            Endpoint agent2 = endpoint(2);
            try (BlockingWireClient copier = BlockingWireClient.connect(agent2, token(2, b, epoch, JOIN_SLAB, Rights.COPY), AGENT_TIMEOUT)) {
                // join, then the binding with the new replica filling, then the survivor fenced at the new epoch
                Binding healing = binding(b, epoch, List.of(List.of(replica("agent-0", survivorSlab), replica("agent-1", slabOn(b, 0, "agent-1")),
                        filling("agent-2", JOIN_SLAB))));
                try (BlockingWireClient ignored = BlockingWireClient.connect(agent0, token(0, b, epoch, survivorSlab, Rights.READ), AGENT_TIMEOUT)) {
                    // fenced: the far memory's next request to agent-0 is refused until it follows the new binding
                }
                Thread.sleep(FILE_LAG_MILLIS);
                write(file, healing);
                awaitMoreRounds(acknowledged, 2, failure);

                String sourceToken = token(0, b, epoch, survivorSlab, Rights.READ);
                CopyOk p = copier.copy(JOIN_SLAB, survivorSlab, 1, agent0, sourceToken);
                for (int polls = 0; p.state() == CopyState.RUNNING && polls < 10_000; polls++) {
                    Thread.sleep(5);
                    p = copier.copy(JOIN_SLAB, survivorSlab, 1, agent0, sourceToken);
                }
                assertThat(p.state()).as(p.message()).isEqualTo(CopyState.DONE);
            }
            // The copy is done: the binding names agent-2 complete and no longer the lost node.
            write(file, binding(b, epoch, List.of(List.of(replica("agent-0", survivorSlab), replica("agent-2", JOIN_SLAB)))));
            for (int polls = 0; !mem.failedReplicas().isEmpty() && failure.get() == null && polls < 3_000; polls++) Thread.sleep(10);
            assertThat(mem.failedReplicas()).as("the far memory follows the binding without the lost node").isEmpty();
            awaitMoreRounds(acknowledged, 2, failure);
            stop.set(true);
            for (Thread w : writers) w.join();
            for (int t = 0; t < threads; t++) lastRound[t] = acknowledged.get(t); // each writer stopped after a flush that returned
            assertThat(failure.get()).as("no read, write or flush failed across the heal").isNull();
            assertThat(mem.stats().writebackErrors()).isZero();
        }

        // The new replica alone, through a fresh client with an empty cache: every acknowledged round is there.
        pool.stopAgent(0);
        long epoch = b.epoch() + 1000;
        try (FarMemory fresh = FarMemory.open(binding(b, epoch, List.of(List.of(replica("agent-2", JOIN_SLAB)))), FarMemoryOptions.defaults().cacheBytes(128 * 1024))) {
            FarLongArray arr = fresh.longArray(0, MIB / 8);
            for (int t = 0; t < threads; t++) {
                for (long block = 0; block < blocks; block++) {
                    long i = block * 512 + t * 8L;
                    assertThat(arr.get(i)).as("long %d, last acknowledged round of writer %d", i, t).isEqualTo(value(i, lastRound[t]));
                }
            }
        }
    }

    /** Waits until every writer acknowledged {@code more} rounds more than it had when called, or one failed. */
    private static void awaitMoreRounds(AtomicLongArray acknowledged, int more, AtomicReference<Throwable> failure) throws InterruptedException {
        long[] from = new long[acknowledged.length()];
        for (int t = 0; t < from.length; t++) from[t] = acknowledged.get(t);
        for (int t = 0; t < from.length; t++) {
            while (acknowledged.get(t) < from[t] + more && failure.get() == null) Thread.sleep(5);
        }
        assertThat(failure.get()).as("no read, write or flush failed").isNull();
    }

    @Test
    void aWriteBackThatFailedOnEveryReplicaIsSentAgainToTheNewBindingsReplicasWithTheBytesItTook(@TempDir Path dir) throws Exception {
        Binding b = pool.bind("refused", 2 * MIB, 2, 4096);
        assertThat(b.extents().get(0).replicas()).extracting(Binding.Replica::node).containsExactly("agent-0", "agent-1");
        assertThat(b.extents().get(1).replicas()).extracting(Binding.Replica::node).containsExactly("agent-1", "agent-2");
        Path file = dir.resolve("binding.json");
        write(file, b);
        long perSlab = MIB / 8;
        int dirtyBlocks = 16;
        long dirtyLongs = dirtyBlocks * 4096L / 8;
        // The cache holds 16 blocks; no flusher and no prefetch, so the 16 blocks written last are its only dirty frames.
        FarMemoryOptions options = FarMemoryOptions.defaults().cacheBytes(dirtyBlocks * 4096L).backgroundFlusher(false).prefetchDepth(0).bindingPollMillis(50);
        try (FarMemory mem = FarMemory.open(file, options)) {
            FarLongArray arr = mem.longArray(0, 2 * perSlab);
            for (long i = 0; i < 2 * perSlab; i += 8) arr.set(i, i + 1); // one long in every line
            mem.flush();
            for (long i = 0; i < dirtyLongs; i += 8) arr.set(i, -i);

            pool.stopAgent(1);
            long epoch = b.epoch() + 1000;
            BlockingWireClient.connect(endpoint(2), token(2, b, epoch, JOIN_SLAB, Rights.COPY), AGENT_TIMEOUT).close(); // joined
            BlockingWireClient.connect(endpoint(0), token(0, b, epoch, slabOn(b, 0, "agent-0"), Rights.READ), AGENT_TIMEOUT).close(); // fenced
            // Claim slab 1 still serves (agent-2): its misses evict the dirty frames of slab 0, whose write-backs fail on every replica
            // (agent-1 is gone, agent-0 refuses the old epoch), and load slab 1's blocks into those frames at once.
            CompletableFuture<Void> writing = CompletableFuture.runAsync(() -> {
                for (long i = perSlab; i < 2 * perSlab; i += 8) arr.set(i, -i);
                mem.flush();
            });
            Thread.sleep(FILE_LAG_MILLIS);
            write(file, binding(b, epoch, List.of(
                    List.of(replica("agent-0", slabOn(b, 0, "agent-0")), replica("agent-1", slabOn(b, 0, "agent-1")), filling("agent-2", JOIN_SLAB)),
                    List.of(replica("agent-1", slabOn(b, 1, "agent-1")), replica("agent-2", slabOn(b, 1, "agent-2"))))));
            writing.join();
            assertThat(mem.stats().writebackErrors()).isZero();
        }
        long epoch = b.epoch() + 1000;
        // Every line, from the survivor of slab 0 and slab 1's live replica, through a fresh client with an empty cache: the refused
        // write-backs carried slab 0's lines, not the slab-1 bytes their frames held by the time they were sent again.
        Binding afterwards = binding(b, epoch, List.of(List.of(replica("agent-0", slabOn(b, 0, "agent-0"))), List.of(replica("agent-2", slabOn(b, 1, "agent-2")))));
        try (FarMemory fresh = FarMemory.open(afterwards, FarMemoryOptions.defaults().cacheBytes(64 * 1024))) {
            FarLongArray arr = fresh.longArray(0, 2 * perSlab);
            for (long i = 0; i < 2 * perSlab; i += 8) {
                assertThat(arr.get(i)).as("long %d", i).isEqualTo(i < dirtyLongs || i >= perSlab ? -i : i + 1);
            }
        }
        // The joining replica got them too: filled from an unused slab of its own agent (zeros), it holds exactly the lines clients
        // wrote since it joined (a copy never overwrites those).
        try (BlockingWireClient copier = BlockingWireClient.connect(endpoint(2), token(2, b, epoch, JOIN_SLAB, Rights.COPY), AGENT_TIMEOUT)) {
            int zeros = JOIN_SLAB + 1;
            String sourceToken = token(2, b, epoch, zeros, Rights.READ);
            CopyOk p = copier.copy(JOIN_SLAB, zeros, 1, endpoint(2), sourceToken);
            for (int polls = 0; p.state() == CopyState.RUNNING && polls < 10_000; polls++) {
                Thread.sleep(5);
                p = copier.copy(JOIN_SLAB, zeros, 1, endpoint(2), sourceToken);
            }
            assertThat(p.state()).as(p.message()).isEqualTo(CopyState.DONE);
        }
        try (FarMemory joined = FarMemory.open(binding(b, epoch, List.of(List.of(replica("agent-2", JOIN_SLAB)), List.of(replica("agent-2", slabOn(b, 1, "agent-2"))))),
                FarMemoryOptions.defaults().cacheBytes(64 * 1024))) {
            FarLongArray arr = joined.longArray(0, perSlab);
            for (long i = 0; i < perSlab; i += 8) assertThat(arr.get(i)).as("long %d on the joined replica", i).isEqualTo(i < dirtyLongs ? -i : 0);
        }
    }

    @Test
    void onceOneReplicaRefusesTheBindingAsOutdatedNoWriteIsAcknowledgedByTheOthersAlone(@TempDir Path dir) throws Exception {
        Binding b = pool.bind("moved", MIB, 2, 4096); // agent-0 stays; agent-1 moves its slab to agent-2 (a drain)
        Path file = dir.resolve("binding.json");
        write(file, b);
        long longs = MIB / 8;
        long epoch = b.epoch() + 1000;
        int staying = slabOn(b, 0, "agent-0");
        int moving = slabOn(b, 0, "agent-1");
        FarMemoryOptions options = FarMemoryOptions.defaults().cacheBytes(16 * 4096).backgroundFlusher(false).prefetchDepth(0).bindingPollMillis(50);
        try (FarMemory mem = FarMemory.open(file, options)) {
            FarLongArray arr = mem.longArray(0, longs);
            for (long i = 0; i < longs; i += 8) arr.set(i, i + 1);
            mem.flush();

            BlockingWireClient.connect(endpoint(2), token(2, b, epoch, JOIN_SLAB, Rights.COPY), AGENT_TIMEOUT).close(); // joined
            // The operator fences the replicas one after the other: here the moving one (the copy's source) is fenced, the other not yet.
            BlockingWireClient.connect(endpoint(1), token(1, b, epoch, moving, Rights.READ), AGENT_TIMEOUT).close();
            // Misses read agent-0, so evictions go on; each write-back reaches agent-0, and agent-1 refuses the first of them.
            CompletableFuture<Void> writing = CompletableFuture.runAsync(() -> {
                for (long i = 0; i < longs; i += 8) arr.set(i, -i);
                mem.flush();
            });
            Thread.sleep(FILE_LAG_MILLIS);
            write(file, binding(b, epoch, List.of(List.of(replica("agent-0", staying), replica("agent-1", moving), filling("agent-2", JOIN_SLAB)))));
            writing.join();
        }
        // Filled from the moving replica, the new one alone holds every acknowledged write: none was acknowledged by agent-0 alone.
        try (BlockingWireClient copier = BlockingWireClient.connect(endpoint(2), token(2, b, epoch, JOIN_SLAB, Rights.COPY), AGENT_TIMEOUT)) {
            String sourceToken = token(1, b, epoch, moving, Rights.READ);
            CopyOk p = copier.copy(JOIN_SLAB, moving, 1, endpoint(1), sourceToken);
            for (int polls = 0; p.state() == CopyState.RUNNING && polls < 10_000; polls++) {
                Thread.sleep(5);
                p = copier.copy(JOIN_SLAB, moving, 1, endpoint(1), sourceToken);
            }
            assertThat(p.state()).as(p.message()).isEqualTo(CopyState.DONE);
        }
        try (FarMemory joined = FarMemory.open(binding(b, epoch, List.of(List.of(replica("agent-2", JOIN_SLAB)))), FarMemoryOptions.defaults().cacheBytes(64 * 1024))) {
            FarLongArray arr = joined.longArray(0, longs);
            for (long i = 0; i < longs; i += 8) assertThat(arr.get(i)).as("long %d on the new replica", i).isEqualTo(-i);
        }
    }

    @Test
    void aBindingThatComesTooLateFailsTheFlushNamingTheClaimAndTheLinesItRefusedGoOutWithTheNextFlush(@TempDir Path dir) throws Exception {
        Binding b = pool.bind("late", MIB, 1, 4096);
        Path file = dir.resolve("binding.json");
        write(file, b);
        Binding.Replica only = b.extents().get(0).replicas().get(0);
        long epoch = b.epoch() + 1000;
        try (FarMemory mem = FarMemory.open(file, FarMemoryOptions.defaults().cacheBytes(64 * 1024).bindingWaitMillis(1_000).bindingPollMillis(50))) {
            FarLongArray arr = mem.longArray(0, MIB / 8);
            arr.set(0, 1);
            mem.flush();
            // A heal's fence, whose binding the file shows only after the binding wait.
            BlockingWireClient.connect(endpoint(agent(only.node())), token(agent(only.node()), b, epoch, only.firstSlab(), Rights.READ), AGENT_TIMEOUT).close();
            arr.set(0, 2);
            assertThatThrownBy(mem::flush)
                    .isInstanceOfSatisfying(TransportException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.FENCED))
                    .hasMessageContaining("claim late")
                    .hasMessageContaining("no newer binding of the claim arrived in " + file)
                    .hasMessageContaining("within 1000 ms");

            write(file, binding(b, epoch, List.of(List.of(replica(only.node(), only.firstSlab())))));
            mem.flush(); // the refused line stayed dirty
        }
        try (FarMemory fresh = FarMemory.open(binding(b, epoch, List.of(List.of(replica(only.node(), only.firstSlab())))),
                FarMemoryOptions.defaults().cacheBytes(64 * 1024))) {
            assertThat(fresh.longArray(0, 1).get(0)).isEqualTo(2);
        }
    }

    /** The remote slab of claim slab {@code claimSlab} on {@code node}. */
    private static int slabOn(Binding b, int claimSlab, String node) {
        return b.extents().get(claimSlab).replicas().stream().filter(r -> r.node().equals(node)).findFirst().orElseThrow().firstSlab();
    }

    private Endpoint endpoint(int agent) {
        return pool.agents().get(agent).endpoint();
    }

    /** The binding the operator writes at {@code epoch}: claim slab {@code s} on the replicas {@code slabs.get(s)}, a token per node for its slabs. */
    private Binding binding(Binding b, long epoch, List<List<Binding.Replica>> slabs) {
        Map<String, List<SlabRange>> granted = new TreeMap<>();
        List<Binding.Extent> extents = new ArrayList<>();
        for (int s = 0; s < slabs.size(); s++) {
            for (Binding.Replica r : slabs.get(s)) granted.computeIfAbsent(r.node(), n -> new ArrayList<>()).add(new SlabRange(r.firstSlab(), 1));
            extents.add(new Binding.Extent(s, 1, slabs.get(s)));
        }
        Map<String, Binding.Node> nodes = new TreeMap<>();
        granted.forEach((node, ranges) -> {
            int agent = agent(node);
            nodes.put(node, new Binding.Node(endpoint(agent).toString(), issuer.issue(new CapabilityToken(node, pool.incarnation(agent), b.claimUid(), epoch,
                    ranges, Rights.READ_WRITE, System.currentTimeMillis() + 3_600_000))));
        });
        return new Binding(b.version(), b.pool(), b.claim(), b.claimUid(), epoch, b.transport(), b.sizeBytes(), b.slabSize(), b.blockSize(), nodes,
                extents).validate();
    }

    private static Binding.Replica replica(String node, int slab) {
        return new Binding.Replica(node, slab);
    }

    private static Binding.Replica filling(String node, int slab) {
        return new Binding.Replica(node, slab, true);
    }

    private static int agent(String node) {
        return Integer.parseInt(node.substring("agent-".length()));
    }

    private String token(int agent, Binding b, long epoch, int slab, Rights rights) {
        return issuer.issue(new CapabilityToken("agent-" + agent, pool.incarnation(agent), b.claimUid(), epoch, List.of(new SlabRange(slab, 1)), rights,
                System.currentTimeMillis() + 3_600_000));
    }

    private static long value(long i, long round) {
        return i * 1_000_003L + round;
    }

    /** As the kubelet updates a mounted Secret: the new content appears at once, never half written. */
    private static void write(Path file, Binding b) throws Exception {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, b.toJson(), StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
