package dev.farmem.operator.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.FarMemoryPoolStatus;
import dev.farmem.operator.status.Conditions;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** A pool's status is decided in one place, from what the reconcile's steps report. */
class PoolStatusAggregatorTest {
    static final long MIB = 1L << 20;
    /** Only its serialization is used (the working copy): no request is sent. */
    final KubernetesClient client = new KubernetesClientBuilder().build();

    @AfterEach
    void close() {
        client.close();
    }

    @Test
    void anObservedPoolHasItsCountsAndConditionsAndEveryProblemInDegraded() {
        PoolStatusAggregator status = new PoolStatusAggregator(client, pool(4, null));
        status.nodes(3, 3, 3, 2, 1, 512 * MIB, 128 * MIB, List.of());
        status.problem("NodesLost", "memory nodes lost: rack-a-node-2-xyz12");
        status.problem("NotEnoughNodes", "only 2 eligible nodes for 3 wanted");
        FarMemoryPoolStatus s = status.build();

        assertThat(s.observedGeneration).isEqualTo(4L);
        assertThat(s.readyNodes).isEqualTo("2/3");
        assertThat(s.bytesFree).isEqualTo(384 * MIB);
        assertThat(s.capacity).isEqualTo("512Mi");
        var ready = Conditions.find(s.conditions, Conditions.READY);
        assertThat(ready.getStatus()).isEqualTo("False");
        assertThat(ready.getMessage()).isEqualTo("2 of 3 memory nodes are ready");
        var degraded = Conditions.find(s.conditions, Conditions.DEGRADED);
        assertThat(degraded.getReason()).as("the first problem's reason").isEqualTo("NodesLost");
        assertThat(degraded.getMessage()).isEqualTo("memory nodes lost: rack-a-node-2-xyz12; only 2 eligible nodes for 3 wanted");
        assertThat(degraded.getObservedGeneration()).isEqualTo(4L);
    }

    @Test
    void whatTheUserMustFixOverridesTheConditionsAndKeepsEveryOtherFieldOfTheStatusRead() {
        FarMemoryPoolStatus read = new FarMemoryPoolStatus();
        read.nodesDesired = 3;
        read.nodesReady = 3;
        read.bytesTotal = 768 * MIB;
        read.readyNodes = "3/3";
        read.capacity = "768Mi";
        PoolStatusAggregator status = new PoolStatusAggregator(client, pool(5, read));
        status.userMustAct("AgentServiceAccountMissing", "the agents' ServiceAccount farmem-system/farmem-agent does not exist");
        FarMemoryPoolStatus s = status.build();

        assertThat(s.nodesDesired).isEqualTo(3);
        assertThat(s.bytesTotal).isEqualTo(768 * MIB);
        assertThat(s.readyNodes).isEqualTo("3/3");
        assertThat(s.capacity).isEqualTo("768Mi");
        assertThat(s.observedGeneration).isEqualTo(5L);
        for (String type : List.of(Conditions.READY, Conditions.PROGRESSING, Conditions.DEGRADED)) {
            assertThat(Conditions.find(s.conditions, type).getReason()).isEqualTo("AgentServiceAccountMissing");
        }
        assertThat(Conditions.isTrue(s.conditions, Conditions.DEGRADED)).isTrue();
        assertThat(read.conditions).as("the status read is not changed").isEmpty();
    }

    @Test
    void aPoolWaitingForItsClaimsToGoIsNotReadyAndSaysWhich() {
        PoolStatusAggregator status = new PoolStatusAggregator(client, pool(2, null));
        status.deleting("1 claim(s) still bound: default/holder");
        FarMemoryPoolStatus s = status.build();
        assertThat(Conditions.find(s.conditions, Conditions.READY).getReason()).isEqualTo("Deleting");
        assertThat(Conditions.find(s.conditions, Conditions.DEGRADED)).as("nothing observed, nothing said").isNull();
    }

    static FarMemoryPool pool(long generation, FarMemoryPoolStatus status) {
        FarMemoryPool p = new FarMemoryPool();
        p.getMetadata().setName("rack-a");
        p.getMetadata().setGeneration(generation);
        p.setStatus(status);
        return p;
    }
}
