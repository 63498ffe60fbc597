package dev.farmem.operator.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.operator.pool.Departures.Departure;
import dev.farmem.operator.pool.Departures.Kind;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What the pool does about leaving memory nodes: move their slabs, then let the eviction API (or itself) take the agent. */
class DrainPlanTest {

    final Map<String, Pod> pods = Map.of("m1", pod(false), "m2", pod(false), "m3", pod(false));

    @Test
    void aDrainedNodeThatHoldsSlabsHasThemMovedAndItsAgentStaysProtected() {
        Departure drain = new Departure("m1", Kind.DRAIN, "node n1 is cordoned (drained)");
        DrainPlan plan = DrainPlan.of(List.of(drain), Set.of("m1"), pods, Set.of());
        assertThat(plan.move()).containsExactly(drain);
        assertThat(plan.release()).isEmpty();
        assertThat(plan.replace()).isEmpty();
    }

    @Test
    void onceItsSlabsMovedADrainedNodesAgentIsReleasedFromTheBudget() {
        Departure drain = new Departure("m1", Kind.DRAIN, "node n1 is cordoned (drained)");
        DrainPlan plan = DrainPlan.of(List.of(drain), Set.of("m2"), pods, Set.of());
        assertThat(plan.release()).containsExactly("m1");
        assertThat(plan.move()).isEmpty();
        assertThat(DrainPlan.of(List.of(drain), Set.of(), Map.of("m1", pod(true)), Set.of()).release()).as("released once").isEmpty();
    }

    @Test
    void scaleDownAndIneligibleNodesMoveTheirSlabsAllAtOnce() {
        Departure down = new Departure("m1", Kind.SCALE_DOWN, "the pool wants 2 agent(s), on other nodes");
        Departure gone = new Departure("m2", Kind.INELIGIBLE, "node n2 is no longer eligible: it is not Ready");
        DrainPlan plan = DrainPlan.of(List.of(down, gone), Set.of("m1", "m2"), pods, Set.of());
        assertThat(plan.move()).containsExactly(down, gone);
    }

    @Test
    void upgradesGoOneNodeAtATimeFirstMovingItsSlabsThenReplacingIt() {
        List<Departure> upgrades = List.of(new Departure("m1", Kind.UPGRADE, "x"), new Departure("m2", Kind.UPGRADE, "x"),
                new Departure("m3", Kind.UPGRADE, "x"));
        DrainPlan holding = DrainPlan.of(upgrades, Set.of("m1", "m2", "m3"), pods, Set.of());
        assertThat(holding.move()).extracting(Departure::memoryNode).containsExactly("m1");
        assertThat(holding.replace()).isEmpty();
        assertThat(holding.waiting()).containsOnlyKeys("m2", "m3");
        assertThat(holding.waiting().get("m2")).isEqualTo("waiting: agents are upgraded one node at a time, m1 first");

        DrainPlan moved = DrainPlan.of(upgrades, Set.of("m2", "m3"), pods, Set.of());
        assertThat(moved.replace()).containsExactly("m1");
        assertThat(moved.release()).containsExactly("m1");
        assertThat(moved.move()).isEmpty();
        assertThat(moved.waiting()).containsOnlyKeys("m2", "m3");
    }

    @Test
    void aReleasedAgentThatHoldsSlabsAgainIsProtectedAgain() {
        DrainPlan plan = DrainPlan.of(List.of(), Set.of("m1"), Map.of("m1", pod(true), "m2", pod(true)), Set.of());
        assertThat(plan.protect()).containsExactly("m1");
    }

    @Test
    void aMarkedNodeThatHoldsNoSlabAndStaysLosesTheMarkSoItTakesSlabsAgain() {
        DrainPlan plan = DrainPlan.of(List.of(), Set.of("m2"), pods, Set.of("m1", "m2"));
        assertThat(plan.unmark()).as("m1's move is over; m2 still holds slabs").containsExactly("m1");
        Departure drain = new Departure("m1", Kind.DRAIN, "node n1 is cordoned (drained)");
        assertThat(DrainPlan.of(List.of(drain), Set.of(), pods, Set.of("m1")).unmark()).as("a leaving node is retired, not unmarked").isEmpty();
    }

    @Test
    void theBudgetGuardsEveryAgentButThoseReleasedAndCountsOnesProtectedAgain() {
        Departure drain = new Departure("m1", Kind.DRAIN, "node n1 is cordoned (drained)");
        Map<String, Pod> podOf = Map.of("m1", pod(false), "m2", pod(false), "m3", pod(true));
        DrainPlan plan = DrainPlan.of(List.of(drain), Set.of("m2"), podOf, Set.of());
        assertThat(plan.guarded(List.of("m1", "m2", "m3", "m4"), podOf)).as("m1 released now, m3 before; m4's pod is yet to come").isEqualTo(2);
        DrainPlan again = DrainPlan.of(List.of(), Set.of("m2", "m3"), podOf, Set.of());
        assertThat(again.guarded(List.of("m2", "m3"), podOf)).as("m3 holds slabs again").isEqualTo(2);
    }

    static Pod pod(boolean released) {
        PodBuilder b = new PodBuilder().withNewMetadata().withName("p").endMetadata();
        if (released) b.editMetadata().addToLabels(AgentObjects.SLABS_MOVED_LABEL, "true").endMetadata();
        return b.build();
    }
}
