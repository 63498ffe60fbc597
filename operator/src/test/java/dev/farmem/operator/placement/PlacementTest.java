package dev.farmem.operator.placement;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.FarMemoryPoolSpec;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.operator.placement.Placement.Plan;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.Toleration;
import io.fabric8.kubernetes.api.model.TolerationBuilder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

class PlacementTest {
    static final String ZONE = "topology.kubernetes.io/zone";
    static final long MIB = 1L << 20;

    @Test
    void randomClustersGetValidBalancedStablePlans() {
        for (int seed = 0; seed < 500; seed++) {
            Random rnd = new Random(seed);
            List<Node> nodes = new ArrayList<>();
            int count = rnd.nextInt(12);
            for (int i = 0; i < count; i++) {
                NodeBuilder b = node("node-" + i, "z" + rnd.nextInt(3), rnd.nextInt(5) > 0, (256 + rnd.nextInt(1024)) * MIB);
                if (rnd.nextInt(4) == 0) b.editSpec().addNewTaint().withKey("dedicated").withValue("db").withEffect("NoSchedule").endTaint().endSpec();
                if (rnd.nextInt(3) == 0) b.editMetadata().addToLabels("farmem", "yes").endMetadata();
                nodes.add(b.build());
            }
            FarMemoryPoolSpec spec = spec(256 * MIB);
            if (rnd.nextBoolean()) spec.capacity.totalBytes = (1 + rnd.nextInt(6)) * 256 * MIB;
            if (rnd.nextInt(3) == 0) spec.nodeSelector = Map.of("farmem", "yes");
            if (rnd.nextBoolean()) spec.tolerations = List.of(toleration("dedicated", "db"));
            Set<String> current = new HashSet<>();
            for (Node n : nodes) if (rnd.nextInt(3) == 0) current.add(n.getMetadata().getName());

            Plan plan = Placement.plan(spec, nodes, current);

            Set<String> eligible = new HashSet<>();
            for (Node n : nodes) {
                String name = n.getMetadata().getName();
                boolean ok = Placement.whyIneligible(spec, n, n.getMetadata().getLabels()) == null;
                if (ok) eligible.add(name);
                assertThat(plan.ineligible().containsKey(name)).as("seed %d: %s listed as ineligible iff it is", seed, name).isEqualTo(!ok);
            }
            assertThat(new HashSet<>(plan.chosen())).hasSize(plan.chosen().size());
            assertThat(eligible).containsAll(plan.chosen());
            assertThat(plan.chosen()).hasSize(Math.min(plan.desired(), eligible.size()));
            long keptable = current.stream().filter(eligible::contains).count();
            if (keptable <= plan.desired()) {
                assertThat(plan.chosen()).as("seed %d: eligible nodes that run an agent keep it", seed)
                        .containsAll(current.stream().filter(eligible::contains).toList());
            }
            if (current.isEmpty()) assertSpread(plan, nodes, eligible);

            List<Node> shuffled = new ArrayList<>(nodes);
            Collections.shuffle(shuffled, rnd);
            assertThat(Placement.plan(spec, shuffled, current)).as("the order of the node list does not matter").isEqualTo(plan);
        }
    }

    @Test
    void aLostNodeIsReplacedAndTheOthersStay() {
        List<Node> nodes = new ArrayList<>(List.of(node("a", "z1", true, 1024 * MIB).build(), node("b", "z2", true, 1024 * MIB).build(),
                node("c", "z3", true, 1024 * MIB).build(), node("d", "z1", true, 1024 * MIB).build()));
        FarMemoryPoolSpec spec = spec(256 * MIB);
        spec.capacity.totalBytes = 768 * MIB;
        Plan first = Placement.plan(spec, nodes, Set.of());
        assertThat(first.chosen()).containsExactlyInAnyOrder("a", "b", "c");

        nodes.set(1, node("b", "z2", false, 1024 * MIB).build());
        Plan after = Placement.plan(spec, nodes, Set.copyOf(first.chosen()));
        assertThat(after.chosen()).containsExactlyInAnyOrder("a", "c", "d");
        assertThat(after.ineligible()).containsEntry("b", "is not Ready");
    }

    @Test
    void scalingDownKeepsOneAgentPerZoneAsLongAsItCan() {
        List<Node> nodes = List.of(node("a", "z1", true, 1024 * MIB).build(), node("b", "z1", true, 1024 * MIB).build(),
                node("c", "z2", true, 1024 * MIB).build());
        FarMemoryPoolSpec spec = spec(256 * MIB);
        spec.capacity.totalBytes = 512 * MIB;
        Plan plan = Placement.plan(spec, nodes, Set.of("a", "b", "c"));
        assertThat(plan.chosen()).containsExactlyInAnyOrder("a", "c");
    }

    @Test
    void ineligibleNodesSayWhy() {
        FarMemoryPoolSpec spec = spec(512 * MIB);
        spec.nodeSelector = Map.of("farmem", "yes");
        spec.transport = "rdma";
        spec.rdmaResource = "rdma/hca_shared_devices_a";
        List<Node> nodes = List.of(
                node("small", "z", true, 256 * MIB).editMetadata().addToLabels("farmem", "yes").endMetadata().build(),
                node("other", "z", true, 4096 * MIB).build(),
                node("tainted", "z", true, 4096 * MIB).editMetadata().addToLabels("farmem", "yes").endMetadata()
                        .editSpec().addNewTaint().withKey("gpu").withEffect("NoSchedule").endTaint().endSpec().build(),
                node("nordma", "z", true, 4096 * MIB).editMetadata().addToLabels("farmem", "yes").endMetadata().build(),
                node("good", "z", true, 4096 * MIB).editMetadata().addToLabels("farmem", "yes").endMetadata()
                        .editStatus().addToAllocatable("rdma/hca_shared_devices_a", new Quantity("1")).endStatus().build());
        Plan plan = Placement.plan(spec, nodes, Set.of());
        assertThat(plan.chosen()).containsExactly("good");
        assertThat(plan.ineligible().get("small")).contains("allocatable memory");
        assertThat(plan.ineligible().get("other")).contains("nodeSelector farmem=yes");
        assertThat(plan.ineligible().get("tainted")).contains("taint gpu:NoSchedule");
        assertThat(plan.ineligible().get("nordma")).contains("no allocatable rdma/hca_shared_devices_a");
    }

    @Test
    void anAutoPoolBindsToRdmaOnlyWhenEveryNodeOfTheClaimReportsIt() {
        FarMemoryPoolSpec auto = spec(256 * MIB);
        auto.transport = "auto";
        MemoryNode rdmaA = memoryNode(MemoryNodeStatus.RDMA_AND_TCP);
        MemoryNode rdmaB = memoryNode(MemoryNodeStatus.RDMA_AND_TCP);
        assertThat(Placement.bindingTransport(auto, List.of(rdmaA, rdmaB), false)).isEqualTo("rdma");
        assertThat(Placement.bindingTransport(auto, List.of(rdmaA, memoryNode(MemoryNodeStatus.TCP)), false))
                .as("one node without RDMA: the client uses TCP, which every node serves").isEqualTo("tcp");
        assertThat(Placement.bindingTransport(auto, List.of(rdmaA, memoryNode(null)), false)).as("a node that has not reported yet").isEqualTo("tcp");
        assertThat(Placement.bindingTransport(auto, List.of(rdmaA, new MemoryNode()), false)).as("a node with no status").isEqualTo("tcp");
        assertThat(Placement.bindingTransport(auto, Arrays.asList(rdmaA, null), false)).as("a node that is gone").isEqualTo("tcp");
        assertThat(Placement.bindingTransport(auto, List.of(), false)).isEqualTo("tcp");

        FarMemoryPoolSpec tcp = spec(256 * MIB);
        tcp.transport = "tcp";
        assertThat(Placement.bindingTransport(tcp, List.of(rdmaA, rdmaB), false)).as("a tcp pool stays tcp").isEqualTo("tcp");
        FarMemoryPoolSpec rdma = spec(256 * MIB);
        rdma.transport = "rdma";
        assertThat(Placement.bindingTransport(rdma, List.of(memoryNode(null)), false)).as("an rdma pool's agents serve RDMA or do not start").isEqualTo("rdma");
    }

    @Test
    void agentsAreToldToServeRdmaWhereThePoolAndTheNodeAllowIt() {
        Node withDevice = node("a", "z", true, 1024 * MIB).editStatus().addToAllocatable("rdma/hca", new Quantity("4")).endStatus().build();
        Node without = node("b", "z", true, 1024 * MIB).build();
        FarMemoryPoolSpec spec = spec(256 * MIB);
        spec.rdmaResource = "rdma/hca";
        spec.transport = "auto";
        assertThat(Placement.agentTransport(spec, withDevice)).as("RDMA where it comes up, TCP always").isEqualTo("auto");
        assertThat(Placement.agentTransport(spec, without)).isEqualTo("tcp");
        spec.transport = "rdma";
        assertThat(Placement.agentTransport(spec, withDevice)).isEqualTo("rdma");
        spec.transport = "tcp";
        assertThat(Placement.agentTransport(spec, withDevice)).isEqualTo("tcp");
    }

    private static MemoryNode memoryNode(String transport) {
        MemoryNode m = new MemoryNode();
        m.setStatus(new MemoryNodeStatus());
        m.getStatus().transport = transport;
        return m;
    }

    @Test
    void tolerationsMatchLikeTheScheduler() {
        Taint t = new Taint("NoSchedule", "dedicated", null, "db");
        assertThat(Placement.tolerated(t, List.of(toleration("dedicated", "db")))).isTrue();
        assertThat(Placement.tolerated(t, List.of(toleration("dedicated", "web")))).isFalse();
        assertThat(Placement.tolerated(t, List.of(new TolerationBuilder().withOperator("Exists").build()))).isTrue();
        assertThat(Placement.tolerated(t, List.of(new TolerationBuilder().withKey("dedicated").withOperator("Exists").withEffect("NoExecute").build())))
                .isFalse();
    }

    private static void assertSpread(Plan plan, List<Node> nodes, Set<String> eligible) {
        Map<String, Integer> chosenPerZone = new HashMap<>();
        Map<String, Integer> eligiblePerZone = new HashMap<>();
        for (Node n : nodes) {
            String name = n.getMetadata().getName();
            String zone = n.getMetadata().getLabels().get(ZONE);
            if (eligible.contains(name)) eligiblePerZone.merge(zone, 1, Integer::sum);
            if (plan.chosen().contains(name)) chosenPerZone.merge(zone, 1, Integer::sum);
        }
        int max = chosenPerZone.values().stream().max(Integer::compare).orElse(0);
        for (Map.Entry<String, Integer> z : eligiblePerZone.entrySet()) {
            int here = chosenPerZone.getOrDefault(z.getKey(), 0);
            // A zone may trail the fullest by more than one only when it has no eligible node left.
            if (here < max - 1) assertThat(here).isEqualTo(z.getValue());
        }
    }

    static FarMemoryPoolSpec spec(long perNode) {
        FarMemoryPoolSpec spec = new FarMemoryPoolSpec();
        spec.capacity = new FarMemoryPoolSpec.Capacity();
        spec.capacity.perNodeBytes = perNode;
        spec.slabSizeBytes = 64 * MIB;
        return spec;
    }

    static Toleration toleration(String key, String value) {
        return new TolerationBuilder().withKey(key).withOperator("Equal").withValue(value).withEffect("NoSchedule").build();
    }

    static NodeBuilder node(String name, String zone, boolean ready, long memory) {
        return new NodeBuilder().withNewMetadata().withName(name).addToLabels(ZONE, zone).endMetadata()
                .withNewSpec().endSpec()
                .withNewStatus().addNewCondition().withType("Ready").withStatus(ready ? "True" : "False").endCondition()
                .addToAllocatable("memory", new Quantity(String.valueOf(memory))).endStatus();
    }
}
