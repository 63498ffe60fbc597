package dev.farmem.operator.pool;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.FarMemoryPoolSpec;
import dev.farmem.crds.MemoryNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class AgentObjectsTest {
    static final long MIB = 1L << 20;

    @Test
    void aTcpAgentGetsTheDownwardApiTheKeyAndMemoryForItsRegion() {
        Pod pod = podFor(pool("tcp", null), node(false));
        Container c = pod.getSpec().getContainers().get(0);
        assertThat(c.getArgs()).containsSequence("--listen", "$(FARMEM_POD_IP):7070").containsSequence("--capacity", String.valueOf(256 * MIB))
                .containsSequence("--key-file", "/etc/farmem/key/token.key");
        assertThat(c.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("FARMEM_POD_IP");
            assertThat(e.getValueFrom().getFieldRef().getFieldPath()).isEqualTo("status.podIP");
        });
        assertThat(c.getEnv()).anySatisfy(e -> assertThat(e.getValueFrom() == null ? null : e.getValueFrom().getFieldRef().getFieldPath())
                .isEqualTo("spec.nodeName"));
        assertThat(c.getResources().getRequests().get("memory").getNumericalAmount().longValue())
                .isEqualTo(256 * MIB + dev.farmem.operator.placement.Placement.AGENT_OVERHEAD_BYTES);
        assertThat(pod.getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getSecret().getSecretName()).isEqualTo("farmem-pool-rack-a-key"));
        assertThat(pod.getSpec().getRestartPolicy()).isEqualTo("Never");
        assertThat(pod.getSpec().getAffinity().getNodeAffinity().getRequiredDuringSchedulingIgnoredDuringExecution().getNodeSelectorTerms()
                .get(0).getMatchFields().get(0).getValues()).containsExactly("node-x");
    }

    @Test
    void theBudgetAsksForEveryGuardedAgentWithAnIntegerTheDisruptionControllerCountsWithoutAScaleSubresource() {
        PodDisruptionBudget budget = AgentObjects.disruptionBudget(pool("tcp", null), "farmem-system", 2);
        assertThat(budget.getSpec().getMaxUnavailable()).as("needs the controller's scale subresource").isNull();
        assertThat(budget.getSpec().getMinAvailable().getIntVal()).isEqualTo(2);
        assertThat(budget.getSpec().getMinAvailable().getStrVal()).as("a percentage needs the scale subresource too").isNull();
        assertThat(budget.getSpec().getSelector().getMatchExpressions()).singleElement().satisfies(e -> {
            assertThat(e.getKey()).isEqualTo(AgentObjects.SLABS_MOVED_LABEL);
            assertThat(e.getOperator()).isEqualTo("DoesNotExist");
        });
    }

    @Test
    void aTcpAgentMeetsTheRestrictedPodSecurityStandard() {
        Pod pod = podFor(pool("tcp", null), node(false));
        SecurityContext sc = pod.getSpec().getContainers().get(0).getSecurityContext();
        assertThat(sc.getRunAsNonRoot()).isTrue();
        assertThat(sc.getRunAsUser()).isEqualTo(10001L);
        assertThat(sc.getAllowPrivilegeEscalation()).isFalse();
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        assertThat(sc.getCapabilities().getAdd()).isEmpty();
        assertThat(sc.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(pod.getSpec().getSecurityContext().getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        // The key file is 0400: readable through fsGroup, by the agent's group.
        assertThat(pod.getSpec().getSecurityContext().getFsGroup()).isEqualTo(10001L);
    }

    @Test
    void anRdmaAgentGetsTheDeviceAndRunsAsRootHoldingOnlyIpcLock() {
        Container c = podFor(pool("rdma", "rdma/hca_shared_devices_a"), node(true)).getSpec().getContainers().get(0);
        assertThat(c.getResources().getLimits()).containsEntry("rdma/hca_shared_devices_a", new Quantity("1"));
        SecurityContext sc = c.getSecurityContext();
        assertThat(sc.getCapabilities().getAdd()).containsExactly("IPC_LOCK");
        assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
        // An added capability is effective only for UID 0 (Kubernetes sets no ambient capabilities).
        assertThat(sc.getRunAsUser()).isZero();
        assertThat(sc.getRunAsNonRoot()).isFalse();
        assertThat(sc.getAllowPrivilegeEscalation()).isFalse();
        assertThat(sc.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        assertThat(c.getEnv()).anySatisfy(e -> assertThat(e).extracting("name", "value").containsExactly("FARMEM_TRANSPORT", "rdma"));
    }

    @Test
    void anAutoAgentServesRdmaWhereItComesUpAndTcpWithoutTheDevice() {
        Container c = podFor(pool("auto", "rdma/hca_shared_devices_a"), rdmaNode("rdma/hca_shared_devices_a")).getSpec().getContainers().get(0);
        assertThat(c.getEnv()).anySatisfy(e -> assertThat(e).extracting("name", "value").containsExactly("FARMEM_TRANSPORT", "auto"));
        assertThat(c.getResources().getLimits()).containsEntry("rdma/hca_shared_devices_a", new Quantity("1"));
        Container plain = podFor(pool("auto", "rdma/hca_shared_devices_a"), node(false)).getSpec().getContainers().get(0);
        assertThat(plain.getEnv()).anySatisfy(e -> assertThat(e).extracting("name", "value").containsExactly("FARMEM_TRANSPORT", "tcp"));
        assertThat(plain.getResources().getLimits()).doesNotContainKey("rdma/hca_shared_devices_a");
    }

    @Test
    void theOperatorsDefaultsApplyToAPoolThatDoesNotSetItsOwn() {
        AgentDefaults chart = AgentDefaults.from(Map.of("FARMEM_AGENT_IMAGE", "registry.example/farmem-agent:0.2.0",
                "FARMEM_IMAGE_PULL_POLICY", "Always", "FARMEM_IMAGE_PULL_SECRETS", "regcred, other",
                "FARMEM_RDMA_RESOURCE", "rdma/hca_shared_devices_b")::get);
        FarMemoryPool pool = pool("rdma", null, chart);
        Pod pod = podFor(pool, rdmaNode("rdma/hca_shared_devices_b"), chart);
        Container c = pod.getSpec().getContainers().get(0);
        assertThat(c.getImage()).isEqualTo("registry.example/farmem-agent:0.2.0");
        assertThat(c.getImagePullPolicy()).isEqualTo("Always");
        assertThat(pod.getSpec().getImagePullSecrets()).extracting(LocalObjectReference::getName).containsExactly("regcred", "other");
        assertThat(c.getResources().getLimits()).containsEntry("rdma/hca_shared_devices_b", new Quantity("1"));
    }

    @Test
    void aPoolsOwnImagePullPolicyAndRdmaResourceWinOverTheOperatorsDefaults() {
        AgentDefaults chart = new AgentDefaults("registry.example/farmem-agent:0.2.0", "Always", List.of("regcred"), "rdma/hca_shared_devices_b");
        FarMemoryPoolSpec spec = spec("rdma", "rdma/hca_shared_devices_a");
        spec.agent = new FarMemoryPoolSpec.Agent();
        spec.agent.image = "mine.example/farmem-agent:dev";
        spec.agent.imagePullPolicy = "Never";
        FarMemoryPool pool = pool(spec, chart);
        Pod pod = podFor(pool, node(true), chart);
        Container c = pod.getSpec().getContainers().get(0);
        assertThat(c.getImage()).isEqualTo("mine.example/farmem-agent:dev");
        assertThat(c.getImagePullPolicy()).isEqualTo("Never");
        assertThat(c.getResources().getLimits()).containsKey("rdma/hca_shared_devices_a").doesNotContainKey("rdma/hca_shared_devices_b");
        assertThat(pod.getSpec().getImagePullSecrets()).extracting(LocalObjectReference::getName).containsExactly("regcred");
    }

    @Test
    void withoutAChartTheBuiltInDefaultsApply() {
        AgentDefaults none = AgentDefaults.from(Map.<String, String>of()::get);
        assertThat(none).isEqualTo(AgentDefaults.BUILT_IN);
        Pod pod = podFor(pool("tcp", null, none), node(false), none);
        assertThat(pod.getSpec().getContainers().get(0).getImage()).isEqualTo("ghcr.io/farmem/farmem-agent:0.1.0");
        assertThat(pod.getSpec().getContainers().get(0).getImagePullPolicy()).isEqualTo("IfNotPresent");
        assertThat(pod.getSpec().getImagePullSecrets()).isEmpty();
        // The chart passes FARMEM_RDMA_RESOURCE="" when rdma.enabled is false: no resource, so rdma pools are refused with a message.
        AgentDefaults rdmaOff = AgentDefaults.from(Map.of("FARMEM_RDMA_RESOURCE", "", "FARMEM_IMAGE_PULL_SECRETS", "")::get);
        assertThat(rdmaOff.rdmaResource()).isNull();
        assertThat(PoolReconciler.validate(pool("rdma", null, rdmaOff).getSpec())).contains("transport rdma needs rdmaResource", "rdma.resourceName");
    }

    @Test
    void badOperatorSettingsAreRefusedNamingTheVariable() {
        assertThatThrownBy(() -> AgentDefaults.from(Map.of("FARMEM_IMAGE_PULL_POLICY", "Sometimes")::get))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'Sometimes'").hasMessageContaining("FARMEM_IMAGE_PULL_POLICY");
        assertThatThrownBy(() -> AgentDefaults.from(Map.of("FARMEM_RDMA_RESOURCE", "hca shared")::get))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("FARMEM_RDMA_RESOURCE");
    }

    @Test
    void autoUsesRdmaOnlyWhereTheNodeHasTheDevice() {
        FarMemoryPool pool = pool("auto", "rdma/hca_shared_devices_a");
        assertThat(podFor(pool, node(true)).getSpec().getContainers().get(0).getResources().getLimits()).containsKey("rdma/hca_shared_devices_a");
        assertThat(podFor(pool, node(false)).getSpec().getContainers().get(0).getResources().getLimits()).doesNotContainKey("rdma/hca_shared_devices_a");
    }

    @Test
    void hugepagesHoldTheRegionInsteadOfPlainMemory() {
        FarMemoryPool pool = pool("tcp", null);
        pool.getSpec().hugepages = new FarMemoryPoolSpec.Hugepages();
        pool.getSpec().hugepages.pageSize = "2Mi";
        Pod pod = podFor(pool, node(false));
        Container c = pod.getSpec().getContainers().get(0);
        assertThat(c.getResources().getLimits().get("hugepages-2Mi").getNumericalAmount().longValue()).isEqualTo(256 * MIB);
        assertThat(c.getArgs()).contains("--memory-file");
        assertThat(pod.getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getEmptyDir() == null ? null : v.getEmptyDir().getMedium()).isEqualTo("HugePages"));
    }

    @Test
    void invalidSpecsTheSchemaCannotCatchGetAMessage() {
        FarMemoryPoolSpec spec = pool("tcp", null).getSpec();
        spec.capacity.minNodes = 4;
        spec.capacity.maxNodes = 2;
        assertThat(PoolReconciler.validate(spec)).contains("minNodes (4) is larger than capacity.maxNodes (2)");
        spec.capacity.maxNodes = null;
        spec.transport = "auto";
        assertThat(PoolReconciler.validate(spec)).contains("transport auto needs rdmaResource");
        spec.transport = "tcp";
        assertThat(PoolReconciler.validate(spec)).isNull();
    }

    @Test
    void sizesReadAsKubectlUsersWriteThem() {
        assertThat(dev.farmem.common.ByteSize.quantity(768 * MIB)).isEqualTo("768Mi");
        assertThat(dev.farmem.common.ByteSize.quantity(3L << 30)).isEqualTo("3Gi");
        assertThat(dev.farmem.common.ByteSize.quantity(1000)).isEqualTo("1000");
        assertThat(dev.farmem.common.ByteSize.quantity(0)).isEqualTo("0");
    }

    static Pod podFor(FarMemoryPool pool, Node node) {
        return podFor(pool, node, AgentDefaults.BUILT_IN);
    }

    static Pod podFor(FarMemoryPool pool, Node node, AgentDefaults defaults) {
        MemoryNode m = AgentObjects.memoryNode(pool, "rack-a-node-x-abcde", "node-x", "zone-a", "farmem-system");
        return AgentObjects.agentPod(pool, m, node, "farmem-agent", defaults);
    }

    static FarMemoryPool pool(String transport, String rdmaResource) {
        return pool(transport, rdmaResource, AgentDefaults.BUILT_IN);
    }

    static FarMemoryPool pool(String transport, String rdmaResource, AgentDefaults defaults) {
        return pool(spec(transport, rdmaResource), defaults);
    }

    static FarMemoryPool pool(FarMemoryPoolSpec spec, AgentDefaults defaults) {
        FarMemoryPool pool = new FarMemoryPool();
        pool.getMetadata().setName("rack-a");
        pool.getMetadata().setUid("uid-1");
        pool.setSpec(PoolReconciler.withDefaults(spec, defaults));
        return pool;
    }

    static FarMemoryPoolSpec spec(String transport, String rdmaResource) {
        FarMemoryPoolSpec spec = new FarMemoryPoolSpec();
        spec.capacity = new FarMemoryPoolSpec.Capacity();
        spec.capacity.perNodeBytes = 256 * MIB;
        spec.slabSizeBytes = 16 * MIB;
        spec.transport = transport;
        spec.rdmaResource = rdmaResource;
        return spec;
    }

    static Node rdmaNode(String resource) {
        return new NodeBuilder(node(false)).editStatus().addToAllocatable(resource, new Quantity("8")).endStatus().build();
    }

    static Node node(boolean rdma) {
        NodeBuilder b = new NodeBuilder().withNewMetadata().withName("node-x").endMetadata().withNewStatus()
                .addToAllocatable("memory", new Quantity("16Gi")).endStatus();
        if (rdma) b.editStatus().addToAllocatable("rdma/hca_shared_devices_a", new Quantity("8")).endStatus();
        return b.build();
    }
}
