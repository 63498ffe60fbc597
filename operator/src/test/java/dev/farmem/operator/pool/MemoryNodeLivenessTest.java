package dev.farmem.operator.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import org.junit.jupiter.api.Test;

/** When the operator declares a memory node Lost: {@link PoolReconciler#whyLost}. */
class MemoryNodeLivenessTest {

    @Test
    void aReadyNodeWithAFreshLeaseAndARunningPodIsAlive() {
        assertThat(PoolReconciler.whyLost(node(MemoryNodeStatus.READY), pod("Running"), lease(2))).isNull();
    }

    @Test
    void aLeaseNotRenewedForItsDurationMeansLost() {
        assertThat(PoolReconciler.whyLost(node(MemoryNodeStatus.READY), pod("Running"), lease(AgentObjects.LEASE_SECONDS + 1)))
                .startsWith("its Lease expired at");
    }

    @Test
    void anExitedAgentIsLostAtOnceWithItsExitCode() {
        Pod failed = new PodBuilder(pod("Failed")).editStatus().addNewContainerStatus().withName("agent").withNewState().withNewTerminated()
                .withExitCode(1).withReason("Error").withMessage("key file missing").endTerminated().endState().endContainerStatus().endStatus().build();
        assertThat(PoolReconciler.whyLost(node("Starting"), failed, lease(1))).isEqualTo("its agent pod exited (exit code 1, Error: key file missing)");
    }

    @Test
    void aStartingNodeIsGivenTimeAndALostOneStaysLost() {
        assertThat(PoolReconciler.whyLost(node("Starting"), pod("Running"), null)).as("no Lease renewal expected before Ready").isNull();
        assertThat(PoolReconciler.whyLost(node(MemoryNodeStatus.LOST), null, null)).as("already Lost").isNull();
        assertThat(PoolReconciler.whyLost(node(MemoryNodeStatus.READY), null, lease(1))).isEqualTo("its agent pod is gone");
        assertThat(PoolReconciler.whyLost(node(MemoryNodeStatus.READY), pod("Running"), null)).isEqualTo("its Lease is gone");
    }

    static MemoryNode node(String phase) {
        MemoryNode m = new MemoryNode();
        m.getMetadata().setName("rack-a-node-1-abcde");
        m.getStatus().phase = phase;
        return m;
    }

    static Pod pod(String phase) {
        return new PodBuilder().withNewMetadata().withName("rack-a-node-1-abcde").endMetadata().withNewStatus().withPhase(phase).endStatus().build();
    }

    static Lease lease(int secondsAgo) {
        return new LeaseBuilder().withNewSpec().withLeaseDurationSeconds(AgentObjects.LEASE_SECONDS)
                .withRenewTime(ZonedDateTime.now(ZoneOffset.UTC).minusSeconds(secondsAgo)).endSpec().build();
    }
}
