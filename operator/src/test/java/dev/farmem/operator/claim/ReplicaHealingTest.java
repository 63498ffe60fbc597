package dev.farmem.operator.claim;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.agent.MemoryNodeAgent;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenLifetime;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeSpec;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.operator.allocation.MemoryNodes;
import dev.farmem.operator.allocation.PoolAllocations;
import dev.farmem.operator.allocation.SlabAllocator;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.wire.BlockingWireClient;
import dev.farmem.transport.tcp.NettyTransport;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The operator's heal on real agents (an embedded pool), without Kubernetes: a replica on a lost node is replaced by
 * a new one on another node (place), which joins (join) and is filled by the agents' copy (fill) until it is complete;
 * the lost replica is then dropped, and the new one alone holds the data.
 */
class ReplicaHealingTest {

    private static final long MIB = 1 << 20;
    private static final TokenLifetime TTL = TokenLifetime.ofSeconds(60);

    @Test
    void aReplicaOnALostNodeIsReplacedFilledAndDropped() throws Exception {
        try (EmbeddedPool pool = EmbeddedPool.start(3, 8 * MIB, MIB); NettyTransport transport = new NettyTransport()) {
            Binding b = pool.bind("heal", 2 * MIB, 2, 4096);
            // Claim slab s holds bytes (s * 31 + i) at offset i.
            for (Binding.Extent e : b.extents()) {
                for (Binding.Replica r : e.replicas()) {
                    MemoryNodeConnection c = transport.connect(pool.agents().get(index(r.node())).endpoint(), b.nodes().get(r.node()).token()).join();
                    ByteBuffer bytes = pattern((int) e.firstSlab());
                    for (int half = 0; half < 2; half++) c.writev(r.firstSlab(), new WriteBatch().add(half * MIB / 2, bytes, half * (int) MIB / 2, (int) MIB / 2)).join();
                    c.close();
                }
            }
            String lostNode = b.extents().get(0).replicas().get(1).node();
            pool.stopAgent(index(lostNode));
            Set<String> lost = Set.of(lostNode);

            Map<String, MemoryNode> nodes = new HashMap<>();
            for (EmbeddedPool.Agent a : pool.agents()) nodes.put(a.name(), memoryNode(a, pool, lost.contains(a.name())));
            SlabAllocator allocator = new SlabAllocator();
            allocator.setNodes(MemoryNodes.allocatorNodes(nodes.values(), Set.of()));
            allocator.restore("uid", b.extents());
            FarMemoryClaimStatus status = new FarMemoryClaimStatus();
            status.extents = PoolAllocations.toStatus(b.extents());
            status.epoch = b.epoch() + 1000;
            TokenIssuer issuer = new TokenIssuer(pool.key());

            List<String> failures = new ArrayList<>();
            assertThat(ReplicaHealing.place("uid", status, allocator, lost, lost, failures)).isTrue();
            assertThat(failures).isEmpty();
            for (FarMemoryClaimStatus.Extent e : status.extents) {
                boolean hadLost = e.replicas.stream().anyMatch(r -> r.node.equals(lostNode));
                List<FarMemoryClaimStatus.Replica> filling = e.replicas.stream().filter(ReplicaHealing::filling).toList();
                assertThat(filling).hasSize(hadLost ? 1 : 0);
                if (hadLost) {
                    assertThat(filling.get(0).replaces).isEqualTo(lostNode);
                    assertThat(e.replicas.stream().map(r -> r.node).distinct().count()).as("distinct nodes").isEqualTo(e.replicas.size());
                }
            }
            assertThat(ReplicaHealing.place("uid", status, allocator, lost, lost, failures)).as("placed once").isFalse();
            assertThat(ReplicaHealing.join(b.claimUid(), status, nodes, issuer, TTL)).isEmpty();

            ReplicaHealing.Progress p = null;
            List<FarMemoryClaimStatus.Replica> completed = new ArrayList<>();
            for (int polls = 0; polls < 10_000 && status.extents.stream().anyMatch(e -> e.replicas.stream().anyMatch(ReplicaHealing::filling)); polls++) {
                p = ReplicaHealing.fill(b.claimUid(), status, nodes, lost, issuer, TTL, completed);
                assertThat(p.problems()).isEmpty();
                Thread.sleep(5);
            }
            assertThat(completed).isNotEmpty();
            assertThat(p.toGo()).isZero();
            for (FarMemoryClaimStatus.Extent e : status.extents) {
                assertThat(e.replicas).hasSize(2).noneMatch(r -> r.node.equals(lostNode)).noneMatch(ReplicaHealing::filling);
            }
            allocator.setExtents("uid", PoolAllocations.extentsOf(status));
            assertThat(allocator.usedSlabs(lostNode)).as("the lost node's slabs are freed").isZero();

            // Each replica alone, the new ones included, holds the claim's bytes.
            for (FarMemoryClaimStatus.Extent e : status.extents) {
                for (FarMemoryClaimStatus.Replica r : e.replicas) {
                    String token = issuer.issue(new CapabilityToken(r.node, pool.incarnation(index(r.node)), b.claimUid(), status.epoch,
                            List.of(new SlabRange(r.firstSlab, 1)), Rights.READ_WRITE, System.currentTimeMillis() + 60_000));
                    MemoryNodeConnection c = transport.connect(pool.agents().get(index(r.node)).endpoint(), token).join();
                    ByteBuffer got = ByteBuffer.allocate((int) MIB / 2);
                    c.read(r.firstSlab, MIB / 2, got).join();
                    assertThat(got.array()).as("claim slab %d on %s", e.firstSlab, r.node).isEqualTo(slice(pattern((int) (long) e.firstSlab), (int) MIB / 2));
                    c.close();
                }
            }
        }
    }

    @Test
    void aCopyCutOffByItsSourceTokensExpiryIsRenewedAtOnceAndResumes() throws Exception {
        try (EmbeddedPool pool = EmbeddedPool.start(3, 8 * MIB, MIB); NettyTransport transport = new NettyTransport()) {
            Binding b = pool.bind("renew", MIB, 2, 4096);
            Binding.Extent extent = b.extents().get(0);
            for (Binding.Replica r : extent.replicas()) {
                MemoryNodeConnection c = transport.connect(pool.agents().get(index(r.node())).endpoint(), b.nodes().get(r.node()).token()).join();
                for (int half = 0; half < 2; half++) c.writev(r.firstSlab(), new WriteBatch().add(half * MIB / 2, pattern(0), half * (int) MIB / 2, (int) MIB / 2)).join();
                c.close();
            }
            String lostNode = extent.replicas().get(1).node();
            pool.stopAgent(index(lostNode));
            Set<String> lost = Set.of(lostNode);
            Map<String, MemoryNode> nodes = new HashMap<>();
            for (EmbeddedPool.Agent a : pool.agents()) nodes.put(a.name(), memoryNode(a, pool, lost.contains(a.name())));
            SlabAllocator allocator = new SlabAllocator();
            allocator.setNodes(MemoryNodes.allocatorNodes(nodes.values(), Set.of()));
            allocator.restore("uid", b.extents());
            FarMemoryClaimStatus status = new FarMemoryClaimStatus();
            status.extents = PoolAllocations.toStatus(b.extents());
            status.epoch = b.epoch() + 1000;
            TokenIssuer issuer = new TokenIssuer(pool.key());
            assertThat(ReplicaHealing.place("uid", status, allocator, lost, lost, new ArrayList<>())).isTrue();
            assertThat(ReplicaHealing.join(b.claimUid(), status, nodes, issuer, TTL)).isEmpty();

            // The copy starts with a source token that has expired by the time it connects: the source cuts it off, as it
            // does a copy that outlives its token.
            FarMemoryClaimStatus.Replica source = status.extents.get(0).replicas.get(0);
            FarMemoryClaimStatus.Replica fill = status.extents.get(0).replicas.stream().filter(ReplicaHealing::filling).findFirst().orElseThrow();
            MemoryNodeAgent destination = pool.agents().get(index(fill.node)).agent();
            long now = System.currentTimeMillis();
            try (BlockingWireClient c = BlockingWireClient.connect(destination.endpoint(), token(issuer, pool, fill, b.claimUid(), status.epoch, Rights.COPY,
                    now + 60_000), Duration.ofSeconds(10))) {
                c.copy(fill.firstSlab, source.firstSlab, 1, pool.agents().get(index(source.node)).endpoint(),
                        token(issuer, pool, source, b.claimUid(), status.epoch, Rights.READ, now - 1));
            }
            for (int waits = 0; waits < 10_000 && sample(destination, "farmem_agent_copies_failed_total") < 1; waits++) Thread.sleep(5);
            assertThat(sample(destination, "farmem_agent_copies_failed_total")).as("the source refused the expired token").isEqualTo(1);

            List<FarMemoryClaimStatus.Replica> completed = new ArrayList<>();
            for (int polls = 0; polls < 10_000 && completed.isEmpty(); polls++) {
                ReplicaHealing.Progress p = ReplicaHealing.fill(b.claimUid(), status, nodes, lost, issuer, TTL, completed);
                assertThat(p.problems()).as("renewed, not reported").isEmpty();
                Thread.sleep(5);
            }
            assertThat(completed).extracting(r -> r.node).containsExactly(fill.node);
            assertThat(sample(destination, "farmem_agent_copies_started_total")).as("started, then restarted with a fresh token").isEqualTo(2);
            assertThat(sample(destination, "farmem_agent_copies_failed_total")).isEqualTo(1);
        }
    }

    private static double sample(MemoryNodeAgent agent, String name) {
        Double v = agent.metrics().registry().getSampleValue(name);
        return v == null ? 0 : v;
    }

    private static String token(TokenIssuer issuer, EmbeddedPool pool, FarMemoryClaimStatus.Replica r, String claimUid, long epoch, Rights rights,
                                long expiresAt) {
        return issuer.issue(new CapabilityToken(r.node, pool.incarnation(index(r.node)), claimUid, epoch, List.of(new SlabRange(r.firstSlab, 1)), rights,
                expiresAt));
    }

    private static byte[] slice(ByteBuffer b, int from) {
        byte[] out = new byte[b.capacity() - from];
        b.get(from, out);
        return out;
    }

    private static ByteBuffer pattern(int claimSlab) {
        ByteBuffer b = ByteBuffer.allocate((int) MIB);
        for (int i = 0; i < MIB; i++) b.put(i, (byte) (claimSlab * 31 + i));
        return b;
    }

    private static int index(String node) {
        return Integer.parseInt(node.substring("agent-".length()));
    }

    private static MemoryNode memoryNode(EmbeddedPool.Agent a, EmbeddedPool pool, boolean lost) {
        MemoryNode m = new MemoryNode();
        m.getMetadata().setName(a.name());
        m.setSpec(new MemoryNodeSpec());
        m.getSpec().zone = "zone-a";
        m.getSpec().capacityBytes = 8 * MIB;
        m.getSpec().slabSizeBytes = MIB;
        m.getStatus().phase = lost ? MemoryNodeStatus.LOST : MemoryNodeStatus.READY;
        m.getStatus().endpoint = a.endpoint().toString();
        m.getStatus().incarnation = Incarnation.format(pool.incarnation(a.index()));
        return m;
    }
}
