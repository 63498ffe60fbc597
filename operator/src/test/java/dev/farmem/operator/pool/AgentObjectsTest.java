package dev.farmem.operator.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.FarMemoryPoolSpec;
import dev.farmem.crds.MemoryNode;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
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
        assertThat(c.getSecurityContext()).as("no extra capability without RDMA").isNull();
        assertThat(pod.getSpec().getVolumes()).anySatisfy(v -> assertThat(v.getSecret().getSecretName()).isEqualTo("farmem-pool-rack-a-key"));
        assertThat(pod.getSpec().getRestartPolicy()).isEqualTo("Never");
        assertThat(pod.getSpec().getAffinity().getNodeAffinity().getRequiredDuringSchedulingIgnoredDuringExecution().getNodeSelectorTerms()
                .get(0).getMatchFields().get(0).getValues()).containsExactly("node-x");
    }

    @Test
    void anRdmaAgentGetsTheDeviceAndIpcLock() {
        Container c = podFor(pool("rdma", "rdma/hca_shared_devices_a"), node(true)).getSpec().getContainers().get(0);
        assertThat(c.getResources().getLimits()).containsEntry("rdma/hca_shared_devices_a", new Quantity("1"));
        assertThat(c.getSecurityContext().getCapabilities().getAdd()).containsExactly("IPC_LOCK");
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
        assertThat(PoolReconciler.binary(768 * MIB)).isEqualTo("768Mi");
        assertThat(PoolReconciler.binary(3L << 30)).isEqualTo("3Gi");
        assertThat(PoolReconciler.binary(1000)).isEqualTo("1000");
        assertThat(PoolReconciler.binary(0)).isEqualTo("0");
    }

    static Pod podFor(FarMemoryPool pool, Node node) {
        MemoryNode m = AgentObjects.memoryNode(pool, "rack-a-node-x-abcde", "node-x", "zone-a", "farmem-system");
        return AgentObjects.agentPod(pool, m, node, "farmem-agent");
    }

    static FarMemoryPool pool(String transport, String rdmaResource) {
        FarMemoryPool pool = new FarMemoryPool();
        pool.getMetadata().setName("rack-a");
        pool.getMetadata().setUid("uid-1");
        FarMemoryPoolSpec spec = new FarMemoryPoolSpec();
        spec.capacity = new FarMemoryPoolSpec.Capacity();
        spec.capacity.perNodeBytes = 256 * MIB;
        spec.slabSizeBytes = 16 * MIB;
        spec.transport = transport;
        spec.rdmaResource = rdmaResource;
        pool.setSpec(PoolReconciler.withDefaults(spec));
        return pool;
    }

    static Node node(boolean rdma) {
        NodeBuilder b = new NodeBuilder().withNewMetadata().withName("node-x").endMetadata().withNewStatus()
                .addToAllocatable("memory", new Quantity("16Gi")).endStatus();
        if (rdma) b.editStatus().addToAllocatable("rdma/hca_shared_devices_a", new Quantity("8")).endStatus();
        return b.build();
    }
}
