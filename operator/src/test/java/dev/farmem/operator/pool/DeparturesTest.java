package dev.farmem.operator.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.FarMemoryPoolSpec;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeSpec;
import dev.farmem.operator.placement.Placement;
import dev.farmem.operator.pool.Departures.Departure;
import dev.farmem.operator.pool.Departures.Kind;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Each way a memory node leaves its pool, seen from what the pool reconcile observes. */
class DeparturesTest {
    static final long MIB = 1L << 20;
    static final String IMAGE = "farmem/agent:1";

    final List<Node> nodes = new ArrayList<>(List.of(node("n1").build(), node("n2").build(), node("n3").build()));
    final List<MemoryNode> live = List.of(memoryNode("m1", "n1"), memoryNode("m2", "n2"), memoryNode("m3", "n3"));
    final Map<String, Pod> pods = new HashMap<>(Map.of("m1", pod(IMAGE), "m2", pod(IMAGE), "m3", pod(IMAGE)));
    final FarMemoryPoolSpec spec = spec();

    List<Departure> departures() {
        Placement.Plan plan = Placement.plan(spec, nodes, Set.of("n1", "n2", "n3"));
        return Departures.of(live, plan, pods, spec.agent.image);
    }

    @Test
    void aPoolWhoseNodesAndAgentsAreAsAskedHasNoDeparture() {
        assertThat(departures()).isEmpty();
    }

    @Test
    void aCordonedNodeIsADrain() {
        nodes.set(1, node("n2").editSpec().withUnschedulable(true).endSpec().build());
        assertThat(departures()).containsExactly(new Departure("m2", Kind.DRAIN, "node n2 is cordoned (drained)"));
    }

    @Test
    void aNodeThatNoLongerMatchesThePoolIsIneligible() {
        spec.nodeSelector = Map.of("farmem", "yes");
        nodes.replaceAll(n -> n.getMetadata().getName().equals("n3") ? n : node(n.getMetadata().getName()).editMetadata()
                .addToLabels("farmem", "yes").endMetadata().build());
        assertThat(departures()).singleElement().satisfies(d -> {
            assertThat(d.memoryNode()).isEqualTo("m3");
            assertThat(d.kind()).isEqualTo(Kind.INELIGIBLE);
            assertThat(d.message()).startsWith("node n3 is no longer eligible: it ");
        });
    }

    @Test
    void aNodeThatIsNotReadyIsLeftToLivenessNotDrained() {
        nodes.set(0, node("n1").editStatus().editFirstCondition().withStatus("False").endCondition().endStatus()
                .editSpec().addNewTaint().withKey("node.kubernetes.io/unreachable").withEffect("NoExecute").endTaint().endSpec().build());
        nodes.set(1, node("n2").editStatus().editFirstCondition().withStatus("False").endCondition().endStatus().build());
        assertThat(departures()).as("its Lease decides whether it is Lost; a flap moves no slab").isEmpty();
    }

    @Test
    void loweringMaxNodesIsAScaleDownOfTheNodesNotKept() {
        spec.capacity.maxNodes = 2;
        List<Departure> out = departures();
        assertThat(out).hasSize(1);
        assertThat(out.get(0).kind()).isEqualTo(Kind.SCALE_DOWN);
        assertThat(out.get(0).message()).isEqualTo("the pool wants 2 agent(s), on other nodes");
    }

    @Test
    void anAgentRunningAnotherImageThanThePoolAsksForIsAnUpgrade() {
        spec.agent.image = "farmem/agent:2";
        assertThat(departures()).extracting(Departure::memoryNode).containsExactly("m1", "m2", "m3");
        assertThat(departures()).allSatisfy(d -> {
            assertThat(d.kind()).isEqualTo(Kind.UPGRADE);
            assertThat(d.message()).isEqualTo("its agent runs farmem/agent:1, the pool asks for farmem/agent:2");
        });
    }

    @Test
    void aMemoryNodeWhosePodIsNotSeenYetIsNotAnUpgrade() {
        spec.agent.image = "farmem/agent:2";
        pods.remove("m1");
        assertThat(departures()).extracting(Departure::memoryNode).containsExactly("m2", "m3");
    }

    static FarMemoryPoolSpec spec() {
        FarMemoryPoolSpec spec = new FarMemoryPoolSpec();
        spec.capacity = new FarMemoryPoolSpec.Capacity();
        spec.capacity.perNodeBytes = 256 * MIB;
        spec.slabSizeBytes = 64 * MIB;
        spec.agent = new FarMemoryPoolSpec.Agent();
        spec.agent.image = IMAGE;
        return spec;
    }

    static NodeBuilder node(String name) {
        return new NodeBuilder().withNewMetadata().withName(name).addToLabels("topology.kubernetes.io/zone", "z-" + name).endMetadata()
                .withNewSpec().endSpec()
                .withNewStatus().addNewCondition().withType("Ready").withStatus("True").endCondition()
                .addToAllocatable("memory", new Quantity(String.valueOf(4096 * MIB))).endStatus();
    }

    static MemoryNode memoryNode(String name, String node) {
        MemoryNode m = new MemoryNode();
        m.getMetadata().setName(name);
        m.setSpec(new MemoryNodeSpec());
        m.getSpec().nodeName = node;
        return m;
    }

    static Pod pod(String image) {
        return new PodBuilder().withNewMetadata().withName("p").endMetadata().withNewSpec().addNewContainer().withName("agent").withImage(image)
                .endContainer().endSpec().build();
    }
}
