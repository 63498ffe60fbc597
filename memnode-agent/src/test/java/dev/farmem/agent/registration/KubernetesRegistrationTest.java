package dev.farmem.agent.registration;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.common.token.Incarnation;
import dev.farmem.crds.MemoryNodeStatus;
import org.junit.jupiter.api.Test;

/** When an agent may take up its MemoryNode: never one that is Lost, never one another agent process served. */
class KubernetesRegistrationTest {

    static final long MINE = 0x00c0_ffee_0000_0001L;

    @Test
    void aNodeNoAgentServedYetIsTakenUp() {
        assertThat(KubernetesRegistration.refusal("rack-a-n1-x", null, MINE)).isNull();
        assertThat(KubernetesRegistration.refusal("rack-a-n1-x", new MemoryNodeStatus(), MINE)).isNull();
    }

    @Test
    void aNodeThisVeryProcessServesIsTakenUpAgain() {
        MemoryNodeStatus s = new MemoryNodeStatus();
        s.phase = MemoryNodeStatus.READY;
        s.incarnation = Incarnation.format(MINE);
        assertThat(KubernetesRegistration.refusal("rack-a-n1-x", s, MINE)).isNull();
    }

    @Test
    void aRestartUnderTheSameMemoryNodeIsRefusedBecauseItsRegionIsEmpty() {
        MemoryNodeStatus s = new MemoryNodeStatus();
        s.phase = MemoryNodeStatus.READY;
        s.incarnation = Incarnation.format(MINE + 1);
        assertThat(KubernetesRegistration.refusal("rack-a-n1-x", s, MINE))
                .contains("MemoryNode rack-a-n1-x was served by incarnation 00c0ffee00000002, and this agent is incarnation 00c0ffee00000001")
                .contains("a restarted agent must be a new memory node");
    }

    @Test
    void aLostNodeIsFinal() {
        MemoryNodeStatus s = new MemoryNodeStatus();
        s.phase = MemoryNodeStatus.LOST;
        assertThat(KubernetesRegistration.refusal("rack-a-n1-x", s, MINE)).contains("is already Lost");
    }
}
