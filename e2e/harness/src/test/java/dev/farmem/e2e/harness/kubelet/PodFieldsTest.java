package dev.farmem.e2e.harness.kubelet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceFieldSelectorBuilder;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodFieldsTest {
    private final Pod pod = new PodBuilder().withNewMetadata().withName("agent-0").withNamespace("farmem").withUid("u-1")
            .withLabels(Map.of("app", "agent")).endMetadata()
            .withNewSpec().withNodeName("node-2").withServiceAccountName("farmem-agent")
            .addNewContainer().withName("agent").withNewResources().withLimits(Map.of("memory", new Quantity("1Gi"))).endResources().endContainer()
            .endSpec().build();
    private final PodFields fields = new PodFields(pod, "127.150.0.7", "127.0.0.1");

    @Test
    void fieldRefsResolveLikeTheDownwardApi() {
        assertThat(fields.field("metadata.name")).isEqualTo("agent-0");
        assertThat(fields.field("metadata.namespace")).isEqualTo("farmem");
        assertThat(fields.field("spec.nodeName")).isEqualTo("node-2");
        assertThat(fields.field("status.podIP")).isEqualTo("127.150.0.7");
        assertThat(fields.field("metadata.labels['app']")).isEqualTo("agent");
        assertThat(fields.field("spec.serviceAccountName")).isEqualTo("farmem-agent");
    }

    @Test
    void resourceFieldRefsUseTheDivisorAndFallBackToTheNode() {
        NodeSpec node = NodeSpec.of("node-2", "zone-b", "rack-2");
        assertThat(fields.resource(new ResourceFieldSelectorBuilder().withResource("limits.memory")
                .withDivisor(new Quantity("1Mi")).build(), "agent", node)).isEqualTo("1024");
        assertThat(fields.resource(new ResourceFieldSelectorBuilder().withResource("limits.cpu").build(), "agent", node)).isEqualTo("4");
    }

    @Test
    void anUnknownFieldIsAConfigErrorThatNamesIt() {
        assertThatThrownBy(() -> fields.field("status.phase")).isInstanceOf(PodConfigException.class).hasMessageContaining("status.phase");
    }
}
