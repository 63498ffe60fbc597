package dev.farmem.operator.allocation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.operator.allocation.SlabAllocator.Allocation;
import dev.farmem.operator.allocation.SlabAllocator.Node;
import dev.farmem.common.binding.Binding.Extent;
import dev.farmem.common.binding.Binding.Replica;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SlabAllocatorTest {

    @Test
    void aReplacementReplicaGoesToANodeWithoutAReplicaOfTheExtentInAnotherZone() {
        SlabAllocator a = new SlabAllocator();
        a.setNodes(List.of(new Node("a1", "zone-a", 8, true), new Node("b1", "zone-b", 8, true), new Node("b2", "zone-b", 8, true),
                new Node("c1", "zone-c", 4, true)));
        a.restore("claim", List.of(new Extent(0, 2, List.of(new Replica("a1", 0), new Replica("b1", 0)))));
        a.setNodes(List.of(new Node("a1", "zone-a", 8, true), new Node("b1", "zone-b", 8, false), new Node("b2", "zone-b", 8, true),
                new Node("c1", "zone-c", 4, true)));

        SlabAllocator.Placed p = a.placeReplica("claim", 0);

        // b1 is lost: b2 has the most free slabs, but zone-b and zone-a hold replicas and zone-c has room.
        assertThat(p.ok()).isTrue();
        assertThat(p.replica()).isEqualTo(new Replica("c1", 0, true));
        assertThat(a.extentsOf("claim").orElseThrow().get(0).replicas()).containsExactly(new Replica("a1", 0), new Replica("b1", 0), new Replica("c1", 0, true));
        a.setExtents("claim", List.of(new Extent(0, 2, List.of(new Replica("a1", 0), new Replica("c1", 0)))));
        assertThat(a.usedSlabs("b1")).isZero();
        assertThat(a.usedSlabs("c1")).isEqualTo(2);
    }

    @Test
    void aReplacementThatFitsNowhereSaysWhy() {
        SlabAllocator a = new SlabAllocator();
        a.setNodes(List.of(new Node("n1", "", 4, true), new Node("n2", "", 4, true)));
        a.restore("claim", List.of(new Extent(0, 3, List.of(new Replica("n1", 0), new Replica("n2", 0)))));
        SlabAllocator.Placed p = a.placeReplica("claim", 0);
        assertThat(p.ok()).isFalse();
        assertThat(p.failure()).contains("has 3 free slabs in a row");
    }

    @Test
    void randomClaimsNeverShareASlabAndKeepReplicasApart() {
        for (int seed = 0; seed < 300; seed++) {
            Random rnd = new Random(seed);
            List<Node> nodes = randomNodes(rnd);
            SlabAllocator allocator = new SlabAllocator();
            allocator.setNodes(nodes);
            long capacity = nodes.stream().mapToLong(Node::slabs).sum();
            Map<String, List<Extent>> held = new LinkedHashMap<>();
            for (int op = 0; op < 60; op++) {
                if (!held.isEmpty() && rnd.nextInt(3) == 0) {
                    String victim = new ArrayList<>(held.keySet()).get(rnd.nextInt(held.size()));
                    allocator.free(victim);
                    held.remove(victim);
                } else {
                    String claim = "c" + seed + "-" + op;
                    long slabs = 1 + rnd.nextInt(20);
                    int replication = 1 + rnd.nextInt(3);
                    Allocation a = allocator.allocate(claim, slabs, replication);
                    if (a.ok()) {
                        assertCoversClaim(a.extents(), slabs, replication);
                        assertReplicasApart(a.extents(), nodes, nodes.stream().map(Node::zone).distinct().count() >= replication);
                        held.put(claim, a.extents());
                    } else {
                        assertThat(a.failure()).isNotBlank();
                        assertThat(allocator.extentsOf(claim)).isEmpty();
                    }
                }
                assertNoSlabTwice(held, nodes);
                long used = held.values().stream().flatMap(List::stream).mapToLong(e -> (long) e.count() * e.replicas().size()).sum();
                assertThat(allocator.usedSlabs()).as("seed %d", seed).isEqualTo(used);
                assertThat(allocator.freeSlabs()).isEqualTo(capacity - used);
            }
            for (String c : new ArrayList<>(held.keySet())) allocator.free(c);
            assertThat(allocator.freeSlabs()).as("freeing every claim returns the whole capacity").isEqualTo(capacity);
            assertThat(allocator.usedSlabs()).isZero();
        }
    }

    @Test
    void aRestartRebuildsTheSameMapAndDecidesTheSameWay() {
        for (int seed = 0; seed < 200; seed++) {
            Random rnd = new Random(seed);
            List<Node> nodes = randomNodes(rnd);
            SlabAllocator before = new SlabAllocator();
            before.setNodes(nodes);
            Map<String, List<Extent>> statuses = new LinkedHashMap<>();
            for (int op = 0; op < 30; op++) {
                String claim = "c" + op;
                Allocation a = before.allocate(claim, 1 + rnd.nextInt(10), 1 + rnd.nextInt(3));
                if (a.ok()) statuses.put(claim, a.extents());
                if (rnd.nextInt(4) == 0 && !statuses.isEmpty()) {
                    String victim = statuses.keySet().iterator().next();
                    before.free(victim);
                    statuses.remove(victim);
                }
            }
            SlabAllocator after = new SlabAllocator();
            after.setNodes(nodes);
            statuses.forEach(after::restore);
            for (Node n : nodes) assertThat(after.usedSlabs(n.name())).isEqualTo(before.usedSlabs(n.name()));
            assertThat(after.freeSlabs()).isEqualTo(before.freeSlabs());
            Allocation next1 = before.allocate("next", 3, 2);
            Allocation next2 = after.allocate("next", 3, 2);
            assertThat(next2).as("seed %d", seed).isEqualTo(next1);
        }
    }

    @Test
    void replicasGoToDistinctZonesWhenThePoolSpansEnough() {
        SlabAllocator allocator = new SlabAllocator();
        allocator.setNodes(List.of(new Node("a1", "zone-a", 100, true), new Node("a2", "zone-a", 100, true),
                new Node("b1", "zone-b", 10, true)));
        Allocation a = allocator.allocate("c", 10, 2);
        assertThat(a.ok()).isTrue();
        for (Extent e : a.extents()) {
            assertThat(e.replicas()).extracting(Replica::node).anyMatch(n -> n.equals("b1"));
        }
        Allocation b = allocator.allocate("d", 1, 2);
        assertThat(b.ok()).as("zone-b is full: the replicas may not share zone-a").isFalse();
        assertThat(b.failure()).contains("distinct zones");
    }

    @Test
    void aLargeClaimSpreadsOverTheNodes() {
        SlabAllocator allocator = new SlabAllocator();
        allocator.setNodes(List.of(new Node("n1", "", 64, true), new Node("n2", "", 64, true), new Node("n3", "", 64, true),
                new Node("n4", "", 64, true)));
        Allocation a = allocator.allocate("big", 64, 1);
        assertThat(a.ok()).isTrue();
        for (String n : List.of("n1", "n2", "n3", "n4")) assertThat(allocator.usedSlabs(n)).isEqualTo(16);
    }

    @Test
    void anUnsatisfiableClaimGetsAReasonAndTakesNothing() {
        SlabAllocator allocator = new SlabAllocator();
        allocator.setNodes(List.of(new Node("n1", "", 4, true), new Node("n2", "", 4, true)));
        Allocation tooBig = allocator.allocate("c", 5, 2);
        assertThat(tooBig.ok()).isFalse();
        assertThat(tooBig.failure()).contains("needs 10 slabs").contains("8 free");
        Allocation tooManyCopies = allocator.allocate("d", 1, 3);
        assertThat(tooManyCopies.failure()).contains("replication 3 needs 3 memory nodes");
        assertThat(allocator.usedSlabs()).isZero();
    }

    @Test
    void aLostNodeKeepsItsSlabsUntilTheClaimIsFreed() {
        SlabAllocator allocator = new SlabAllocator();
        allocator.setNodes(List.of(new Node("n1", "", 4, true), new Node("n2", "", 4, true)));
        Allocation a = allocator.allocate("c", 4, 2);
        assertThat(a.ok()).isTrue();
        allocator.setNodes(List.of(new Node("n1", "", 4, true), new Node("n3", "", 4, true)));
        assertThat(allocator.usedSlabs("n2")).isEqualTo(4);
        assertThat(allocator.allocate("d", 1, 2).ok()).as("n1 is full, n2 is gone").isFalse();
        allocator.free("c");
        assertThat(allocator.usedSlabs("n2")).isZero();
        assertThat(allocator.allocate("d", 4, 2).ok()).isTrue();
    }

    @Test
    void restoringASlabTwiceIsRefusedAndChangesNothing() {
        SlabAllocator allocator = new SlabAllocator();
        allocator.setNodes(List.of(new Node("n1", "", 8, true), new Node("n2", "", 8, true)));
        allocator.restore("a", List.of(new Extent(0, 4, List.of(new Replica("n1", 0)))));
        List<Extent> clashing = List.of(new Extent(0, 2, List.of(new Replica("n2", 0), new Replica("n1", 3))));
        assertThatThrownBy(() -> allocator.restore("b", clashing)).hasMessageContaining("slab 3 of memory node n1 is held by claim a");
        assertThat(allocator.usedSlabs("n2")).isZero();
        assertThat(allocator.usedSlabs("n1")).isEqualTo(4);
        assertThat(allocator.extentsOf("b")).isEmpty();
    }

    private static List<Node> randomNodes(Random rnd) {
        int count = 1 + rnd.nextInt(8);
        int zones = 1 + rnd.nextInt(3);
        List<Node> nodes = new ArrayList<>();
        for (int i = 0; i < count; i++) nodes.add(new Node("n" + i, "z" + rnd.nextInt(zones), 1 + rnd.nextInt(64), true));
        return nodes;
    }

    private static void assertCoversClaim(List<Extent> extents, long slabs, int replication) {
        long next = 0;
        for (Extent e : extents) {
            assertThat(e.firstSlab()).isEqualTo(next);
            assertThat(e.count()).isPositive();
            assertThat(e.replicas()).hasSize(replication);
            next += e.count();
        }
        assertThat(next).isEqualTo(slabs);
    }

    private static void assertReplicasApart(List<Extent> extents, List<Node> nodes, boolean zonesMustDiffer) {
        Map<String, String> zoneOf = new HashMap<>();
        nodes.forEach(n -> zoneOf.put(n.name(), n.zone()));
        for (Extent e : extents) {
            Set<String> names = new HashSet<>();
            Set<String> zones = new HashSet<>();
            for (Replica r : e.replicas()) {
                assertThat(names.add(r.node())).as("two replicas on node %s", r.node()).isTrue();
                zones.add(zoneOf.get(r.node()));
            }
            if (zonesMustDiffer) assertThat(zones).as("replicas of extent %d in distinct zones", e.firstSlab()).hasSize(e.replicas().size());
        }
    }

    private static void assertNoSlabTwice(Map<String, List<Extent>> held, List<Node> nodes) {
        Map<String, Integer> slabsOf = new HashMap<>();
        nodes.forEach(n -> slabsOf.put(n.name(), n.slabs()));
        Set<String> taken = new HashSet<>();
        held.forEach((claim, extents) -> {
            for (Extent e : extents) {
                for (Replica r : e.replicas()) {
                    for (int s = r.firstSlab(); s < r.firstSlab() + e.count(); s++) {
                        assertThat(s).isLessThan(slabsOf.get(r.node()));
                        assertThat(taken.add(r.node() + "/" + s)).as("slab %d of %s given twice", s, r.node()).isTrue();
                    }
                }
            }
        });
    }
}
