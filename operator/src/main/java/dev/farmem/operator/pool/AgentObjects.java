package dev.farmem.operator.pool;

import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.FarMemoryPoolSpec;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeSpec;
import dev.farmem.operator.placement.Placement;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.LocalObjectReference;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.OwnerReference;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudgetBuilder;
import dev.farmem.common.token.TokenKey;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The objects the operator makes for a pool: the token-key Secret, and per chosen node a
 * MemoryNode, its Lease and the agent pod. Names, labels and ownership are decided here only.
 */
public final class AgentObjects {
    public static final String NAME_LABEL = "app.kubernetes.io/name";
    public static final String AGENT = "farmem-agent";
    public static final String MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
    public static final String OPERATOR = "farmem-operator";
    public static final String NODE_LABEL = "farmem.io/node";
    /**
     * On an agent pod whose memory node holds no claim slab any more: the pool's disruption budget
     * no longer covers it, so a drain may evict it.
     */
    public static final String SLABS_MOVED_LABEL = "farmem.io/slabs-moved";
    public static final String KEY_FILE_NAME = "token.key";
    public static final String KEY_MOUNT = "/etc/farmem/key";
    /** The UID and GID agents run as: the agent image's user, stated so that runAsNonRoot can be checked without the image. */
    public static final long AGENT_UID = 10001;
    /** An agent renews its Lease well within this; after it, the memory node is Lost. */
    public static final int LEASE_SECONDS = 15;

    private AgentObjects() {}

    public static String keySecretName(String pool) {
        return "farmem-pool-" + pool + "-key";
    }

    /** A fresh name per placement: a replacement on the same node is a new memory node with an empty region. */
    public static String memoryNodeName(String pool, String node) {
        String suffix = Integer.toString(ThreadLocalRandom.current().nextInt(36 * 36 * 36 * 36, 36 * 36 * 36 * 36 * 36), 36);
        String base = (pool + "-" + node).toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9.-]", "-");
        if (base.length() > 57) base = base.substring(0, 57);
        return base + "-" + suffix;
    }

    public static Map<String, String> labels(String pool) {
        return Map.of(NAME_LABEL, AGENT, MANAGED_BY_LABEL, OPERATOR, MemoryNode.POOL_LABEL, pool);
    }

    public static Secret keySecret(FarMemoryPool pool, String namespace) {
        return new SecretBuilder().withNewMetadata().withName(keySecretName(pool.getMetadata().getName())).withNamespace(namespace)
                .withLabels(labels(pool.getMetadata().getName())).withOwnerReferences(ownerOf(pool)).endMetadata()
                .withType("Opaque")
                .addToData(KEY_FILE_NAME, Base64.getEncoder().encodeToString(TokenKey.generate()))
                .build();
    }

    public static MemoryNode memoryNode(FarMemoryPool pool, String name, String node, String zone, String namespace) {
        MemoryNode m = new MemoryNode();
        m.getMetadata().setName(name);
        Map<String, String> labels = new HashMap<>(labels(pool.getMetadata().getName()));
        labels.put(NODE_LABEL, node);
        m.getMetadata().setLabels(labels);
        m.getMetadata().setOwnerReferences(List.of(ownerOf(pool)));
        MemoryNodeSpec spec = new MemoryNodeSpec();
        spec.pool = pool.getMetadata().getName();
        spec.nodeName = node;
        spec.zone = zone;
        spec.namespace = namespace;
        spec.capacityBytes = pool.getSpec().capacity.perNodeBytes;
        spec.slabSizeBytes = pool.getSpec().slabSizeBytes;
        m.setSpec(spec);
        return m;
    }

    public static String disruptionBudgetName(String pool) {
        return "farmem-pool-" + pool + "-agents";
    }

    /**
     * The pool's PodDisruptionBudget: no agent pod that still holds claim slabs may be evicted, so
     * {@code kubectl drain} waits until the operator moved its slabs away and marked the pod
     * {@value #SLABS_MOVED_LABEL}, which the selector excludes. Owned by the pool.
     *
     * <p>An integer {@code minAvailable} equal to the number of pods the selector covers ({@code guarded}), not
     * {@code maxUnavailable: 0}: the disruption controller needs the pods' controller's scale subresource to resolve
     * {@code maxUnavailable} or a percentage, and their controller is a MemoryNode, which has none (the budget then
     * only reported a sync error); for an integer {@code minAvailable} it counts the pods themselves. The operator
     * keeps {@code guarded} equal to that set as it changes, so every covered pod must be healthy and none may go.
     */
    public static PodDisruptionBudget disruptionBudget(FarMemoryPool pool, String namespace, int guarded) {
        String name = pool.getMetadata().getName();
        return new PodDisruptionBudgetBuilder().withNewMetadata().withName(disruptionBudgetName(name)).withNamespace(namespace)
                .withLabels(labels(name)).withOwnerReferences(ownerOf(pool)).endMetadata()
                .withNewSpec().withMinAvailable(new IntOrString(guarded))
                .withNewSelector().withMatchLabels(labels(name))
                .addNewMatchExpression().withKey(SLABS_MOVED_LABEL).withOperator("DoesNotExist").endMatchExpression()
                .endSelector()
                .endSpec().build();
    }

    /** The Lease the agent renews; created with the MemoryNode so the agent only needs to update it. */
    public static Lease lease(MemoryNode m) {
        return new LeaseBuilder().withNewMetadata().withName(m.getMetadata().getName()).withNamespace(m.getSpec().namespace)
                .withLabels(labels(m.getSpec().pool)).withOwnerReferences(ownerOf(m)).endMetadata()
                .withNewSpec().withHolderIdentity(m.getMetadata().getName()).withLeaseDurationSeconds(LEASE_SECONDS).endSpec()
                .build();
    }

    /**
     * The agent pod of memory node {@code m} on {@code node}, for a pool whose spec has its defaults
     * ({@link PoolReconciler#withDefaults}); {@code defaults} gives the image pull secrets.
     */
    public static Pod agentPod(FarMemoryPool pool, MemoryNode m, Node node, String serviceAccount, AgentDefaults defaults) {
        FarMemoryPoolSpec spec = pool.getSpec();
        FarMemoryPoolSpec.Agent agent = spec.agent;
        boolean rdma = Placement.usesRdma(spec, node);
        String name = m.getMetadata().getName();

        List<EnvVar> env = new ArrayList<>();
        env.add(new EnvVarBuilder().withName("FARMEM_POD_IP").withNewValueFrom().withNewFieldRef().withFieldPath("status.podIP").endFieldRef().endValueFrom().build());
        env.add(new EnvVarBuilder().withName("FARMEM_K8S_NODE_NAME").withNewValueFrom().withNewFieldRef().withFieldPath("spec.nodeName").endFieldRef().endValueFrom().build());
        env.add(new EnvVarBuilder().withName("FARMEM_NAMESPACE").withNewValueFrom().withNewFieldRef().withFieldPath("metadata.namespace").endFieldRef().endValueFrom().build());
        env.add(new EnvVar("FARMEM_POOL", pool.getMetadata().getName(), null));
        env.add(new EnvVar("FARMEM_NODE_NAME", name, null));
        env.add(new EnvVar("FARMEM_TRANSPORT", Placement.agentTransport(spec, node), null));
        // The region is direct memory: the JVM must be allowed that much beside a small heap.
        env.add(new EnvVar("JAVA_TOOL_OPTIONS", "-Xmx128m -XX:MaxDirectMemorySize=" + (spec.capacity.perNodeBytes + (64L << 20)), null));

        List<String> args = new ArrayList<>(List.of(
                "--listen", "$(FARMEM_POD_IP):" + agent.port,
                "--metrics", "$(FARMEM_POD_IP):" + agent.metricsPort,
                "--capacity", String.valueOf(spec.capacity.perNodeBytes),
                "--slab-size", String.valueOf(spec.slabSizeBytes),
                "--key-file", KEY_MOUNT + "/" + KEY_FILE_NAME,
                "--pool", pool.getMetadata().getName(),
                "--node-name", name));
        if (spec.hugepages != null) args.addAll(List.of("--memory-file", "/dev/hugepages/farmem-region"));

        ResourceRequirements resources = resources(spec, agent, rdma);
        ContainerBuilder container = new ContainerBuilder().withName("agent").withImage(agent.image).withImagePullPolicy(agent.imagePullPolicy)
                .withArgs(args).withEnv(env).withResources(resources)
                .addNewPort().withName("data").withContainerPort(agent.port).withProtocol("TCP").endPort()
                .addNewPort().withName("metrics").withContainerPort(agent.metricsPort).withProtocol("TCP").endPort()
                .withNewReadinessProbe().withNewHttpGet().withPath("/readyz").withNewPort(agent.metricsPort).endHttpGet()
                .withPeriodSeconds(2).endReadinessProbe()
                // a JVM that starts slowly on a busy node is not a dead agent: liveness counts only once it has started
                .withNewStartupProbe().withNewHttpGet().withPath("/healthz").withNewPort(agent.metricsPort).endHttpGet()
                .withPeriodSeconds(2).withTimeoutSeconds(5).withFailureThreshold(90).endStartupProbe()
                // a restarted agent is a new incarnation whose replicas must be copied again: kill only a hung one
                // (no answer for a minute), not one a busy node answers in more than the default second
                .withNewLivenessProbe().withNewHttpGet().withPath("/healthz").withNewPort(agent.metricsPort).endHttpGet()
                .withPeriodSeconds(10).withTimeoutSeconds(5).withFailureThreshold(6).endLivenessProbe()
                .withSecurityContext(securityContext(rdma))
                .addToVolumeMounts(new VolumeMountBuilder().withName("pool-key").withMountPath(KEY_MOUNT).withReadOnly(true).build());
        if (spec.hugepages != null) {
            container.addToVolumeMounts(new VolumeMountBuilder().withName("hugepages").withMountPath("/dev/hugepages").build());
        }

        PodBuilder pod = new PodBuilder().withNewMetadata().withName(name).withNamespace(m.getSpec().namespace)
                .withLabels(m.getMetadata().getLabels()).withOwnerReferences(ownerOf(m)).endMetadata()
                .withNewSpec()
                // A region lives in the process: an agent that exits has lost it, so it is replaced by a new memory node, not restarted.
                .withRestartPolicy("Never")
                .withServiceAccountName(serviceAccount == null || serviceAccount.isEmpty() ? null : serviceAccount)
                .withImagePullSecrets(defaults.pullSecrets().stream().map(LocalObjectReference::new).toList())
                // fsGroup makes the 0400 key file readable by the agent's group (the kubelet adds g+r for it).
                .withNewSecurityContext().withFsGroup(AGENT_UID).withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
                .endSecurityContext()
                .withNewAffinity().withNewNodeAffinity().withNewRequiredDuringSchedulingIgnoredDuringExecution()
                .addNewNodeSelectorTerm().addNewMatchField().withKey("metadata.name").withOperator("In").withValues(node.getMetadata().getName())
                .endMatchField().endNodeSelectorTerm()
                .endRequiredDuringSchedulingIgnoredDuringExecution().endNodeAffinity().endAffinity()
                .withTolerations(spec.tolerations)
                .withContainers(container.build())
                .addToVolumes(new VolumeBuilder().withName("pool-key").withNewSecret().withSecretName(keySecretName(pool.getMetadata().getName()))
                        .withDefaultMode(0400).endSecret().build())
                .endSpec();
        if (spec.hugepages != null) {
            pod.editSpec().addToVolumes(new VolumeBuilder().withName("hugepages").withNewEmptyDir().withMedium("HugePages").endEmptyDir().build()).endSpec();
        }
        return pod.build();
    }

    /**
     * The restricted Pod Security Standard: non-root, no privilege escalation, no capability. An RDMA agent pins
     * its registered memory, which needs IPC_LOCK, and Kubernetes puts an added capability in the effective set
     * only of a UID 0 process (no ambient capabilities, kubernetes/kubernetes#56374): so it runs as root holding
     * IPC_LOCK alone, which the namespace must admit as privileged.
     */
    static SecurityContext securityContext(boolean rdma) {
        SecurityContextBuilder b = new SecurityContextBuilder().withAllowPrivilegeEscalation(false)
                .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile();
        if (rdma) {
            return b.withRunAsNonRoot(false).withRunAsUser(0L).withRunAsGroup(0L)
                    .withNewCapabilities().addToDrop("ALL").addToAdd("IPC_LOCK").endCapabilities().build();
        }
        return b.withRunAsNonRoot(true).withRunAsUser(AGENT_UID).withRunAsGroup(AGENT_UID)
                .withNewCapabilities().addToDrop("ALL").endCapabilities().build();
    }

    /** The user's requests and limits, with memory raised to hold the region and the devices the transport needs. */
    static ResourceRequirements resources(FarMemoryPoolSpec spec, FarMemoryPoolSpec.Agent agent, boolean rdma) {
        Map<String, Quantity> requests = new HashMap<>();
        Map<String, Quantity> limits = new HashMap<>();
        if (agent.resources != null) {
            if (agent.resources.getRequests() != null) requests.putAll(agent.resources.getRequests());
            if (agent.resources.getLimits() != null) limits.putAll(agent.resources.getLimits());
        }
        Quantity memory = new Quantity(String.valueOf(Placement.agentMemoryBytes(spec)));
        requests.merge("memory", memory, AgentObjects::larger);
        limits.merge("memory", memory, AgentObjects::larger);
        if (spec.hugepages != null) {
            Quantity pages = new Quantity(String.valueOf(spec.capacity.perNodeBytes));
            requests.put("hugepages-" + spec.hugepages.pageSize, pages);
            limits.put("hugepages-" + spec.hugepages.pageSize, pages);
        }
        if (rdma) {
            requests.put(spec.rdmaResource, new Quantity("1"));
            limits.put(spec.rdmaResource, new Quantity("1"));
        }
        return new ResourceRequirements(null, limits, requests);
    }

    private static Quantity larger(Quantity a, Quantity b) {
        return a.getNumericalAmount().compareTo(b.getNumericalAmount()) >= 0 ? a : b;
    }

    static OwnerReference ownerOf(HasMetadata owner) {
        return new OwnerReferenceBuilder().withApiVersion(owner.getApiVersion()).withKind(owner.getKind())
                .withName(owner.getMetadata().getName()).withUid(owner.getMetadata().getUid())
                .withController(true).withBlockOwnerDeletion(true).build();
    }
}
