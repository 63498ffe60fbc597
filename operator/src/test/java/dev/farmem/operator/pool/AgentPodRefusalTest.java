package dev.farmem.operator.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.FarMemoryPoolStatus;
import dev.farmem.operator.status.Conditions;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import org.junit.jupiter.api.Test;

/** A refused agent pod the user can fix becomes the pool's condition with the fix, not a retry loop. */
class AgentPodRefusalTest {

    private static KubernetesClientException refused(int code, String message) {
        return new KubernetesClientException(new StatusBuilder().withCode(code).withMessage(message).build());
    }

    @Test
    void aMissingAgentServiceAccountSaysWhatIsMissingAndHowToFixIt() {
        KubernetesClientException e = refused(403, "pods \"rack-a-node-1-abcde\" is forbidden: error looking up service account"
                + " farmem-system/farmem-agent: serviceaccount \"farmem-agent\" not found");
        PoolReconciler.Refusal r = PoolReconciler.Refusal.of(e, "farmem-system", "farmem-agent");
        assertThat(r.reason()).isEqualTo("AgentServiceAccountMissing");
        assertThat(r.message()).contains("ServiceAccount farmem-system/farmem-agent does not exist")
                .contains("kubectl apply -f examples/agent-rbac.yaml").contains("FARMEM_AGENT_SERVICE_ACCOUNT");

        FarMemoryPoolStatus status = new FarMemoryPoolStatus();
        r.report(status, 3);
        assertThat(Conditions.find(status.conditions, Conditions.READY).getStatus()).isEqualTo("False");
        assertThat(Conditions.find(status.conditions, Conditions.PROGRESSING).getStatus()).isEqualTo("False");
        var degraded = Conditions.find(status.conditions, Conditions.DEGRADED);
        assertThat(degraded.getStatus()).isEqualTo("True");
        assertThat(degraded.getReason()).isEqualTo("AgentServiceAccountMissing");
        assertThat(degraded.getMessage()).isEqualTo(r.message());
        assertThat(degraded.getObservedGeneration()).isEqualTo(3L);
    }

    @Test
    void anotherRefusalIsReportedWithTheApiServersWordsAndOtherFailuresAreRetried() {
        PoolReconciler.Refusal quota = PoolReconciler.Refusal.of(refused(403, "pods \"x\" is forbidden: exceeded quota: pods"), "farmem-system", "farmem-agent");
        assertThat(quota.reason()).isEqualTo("AgentPodForbidden");
        assertThat(quota.message()).isEqualTo("the API server refuses agent pods in namespace farmem-system: pods \"x\" is forbidden: exceeded quota: pods");
        assertThat(PoolReconciler.Refusal.of(refused(500, "etcdserver: request timed out"), "farmem-system", "farmem-agent")).isNull();
        assertThat(PoolReconciler.Refusal.of(refused(409, "already exists"), "farmem-system", "farmem-agent")).isNull();
    }
}
