package dev.farmem.operator.pool;

import dev.farmem.common.ByteSize;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.FarMemoryPoolSpec;
import dev.farmem.crds.FarMemoryPoolStatus;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.operator.allocation.MemoryNodes;
import dev.farmem.operator.allocation.PoolAllocations;
import dev.farmem.operator.allocation.PoolState;
import dev.farmem.operator.allocation.SlabAllocator;
import dev.farmem.operator.metrics.OperatorMetrics;
import dev.farmem.operator.placement.Placement;
import dev.farmem.operator.status.Conditions;
import dev.farmem.operator.status.EventRecorder;
import dev.farmem.operator.status.StatusWriter;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.Mappers;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reconciles a FarMemoryPool in named steps, each a method of its own:
 * {@code validate -> ensureKeySecret -> observeLiveness -> place -> retire -> report}
 * (validate: what the schema cannot check; observeLiveness: mark the Lost; place: agents on the
 * chosen nodes; retire: agents no longer chosen once no claim holds slabs on them; report: the
 * status and its conditions). Deleting a pool that still has
 * bound claims waits (the pool stays, Terminating, with the claims named in its conditions)
 * until they are deleted: a pool never pulls memory from under a workload.
 */
@ControllerConfiguration(name = PoolReconciler.NAME)
public class PoolReconciler implements Reconciler<FarMemoryPool>, Cleaner<FarMemoryPool> {
    public static final String NAME = "farmemorypool";
    private static final Logger LOG = LoggerFactory.getLogger(PoolReconciler.class);
    static final Duration RESYNC = Duration.ofSeconds(5);

    private final String namespace;
    private final String agentServiceAccount;
    private final AgentDefaults agentDefaults;
    private final PoolAllocations allocations;
    private final OperatorMetrics metrics;
    private InformerEventSource<Node, FarMemoryPool> nodes;
    private InformerEventSource<MemoryNode, FarMemoryPool> memoryNodes;
    private InformerEventSource<Pod, FarMemoryPool> pods;
    private InformerEventSource<Lease, FarMemoryPool> leases;
    private InformerEventSource<FarMemoryClaim, FarMemoryPool> claims;

    public PoolReconciler(String namespace, String agentServiceAccount, AgentDefaults agentDefaults, PoolAllocations allocations,
                          OperatorMetrics metrics) {
        this.namespace = namespace;
        this.agentServiceAccount = agentServiceAccount;
        this.agentDefaults = agentDefaults;
        this.allocations = allocations;
        this.metrics = metrics;
    }

    @Override
    public List<EventSource<?, FarMemoryPool>> prepareEventSources(EventSourceContext<FarMemoryPool> context) {
        String agents = AgentObjects.NAME_LABEL + "=" + AgentObjects.AGENT;
        nodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(Node.class, FarMemoryPool.class)
                .withName("nodes")
                .withSecondaryToPrimaryMapper(n -> allPools(context))
                .build(), context);
        memoryNodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(MemoryNode.class, FarMemoryPool.class)
                .withName("memorynodes")
                .withSecondaryToPrimaryMapper(Mappers.fromLabel(MemoryNode.POOL_LABEL, null, FarMemoryPool.class))
                .build(), context);
        pods = new InformerEventSource<>(InformerEventSourceConfiguration.from(Pod.class, FarMemoryPool.class)
                .withName("agent-pods").withNamespaces(namespace).withLabelSelector(agents)
                .withSecondaryToPrimaryMapper(Mappers.fromLabel(MemoryNode.POOL_LABEL, null, FarMemoryPool.class))
                .build(), context);
        leases = new InformerEventSource<>(InformerEventSourceConfiguration.from(Lease.class, FarMemoryPool.class)
                .withName("agent-leases").withNamespaces(namespace).withLabelSelector(agents)
                .withSecondaryToPrimaryMapper(Mappers.fromLabel(MemoryNode.POOL_LABEL, null, FarMemoryPool.class))
                .build(), context);
        claims = new InformerEventSource<>(InformerEventSourceConfiguration.from(FarMemoryClaim.class, FarMemoryPool.class)
                .withName("claims-of-pools").withWatchAllNamespaces()
                .withSecondaryToPrimaryMapper(c -> c.getSpec() == null ? Set.of() : Set.of(new ResourceID(c.getSpec().pool)))
                .build(), context);
        return List.of(nodes, memoryNodes, pods, leases, claims);
    }

    private static Set<ResourceID> allPools(EventSourceContext<FarMemoryPool> context) {
        return context.getPrimaryCache().list().map(ResourceID::fromResource).collect(Collectors.toSet());
    }

    @Override
    public UpdateControl<FarMemoryPool> reconcile(FarMemoryPool pool, Context<FarMemoryPool> context) {
        KubernetesClient client = context.getClient();
        EventRecorder events = new EventRecorder(client);
        FarMemoryPoolSpec spec = withDefaults(pool.getSpec(), agentDefaults);
        FarMemoryPoolStatus status = copyOf(pool.getStatus());

        String invalid = validate(spec);
        if (invalid != null) return invalidSpec(client, events, pool, status, invalid);
        ensureKeySecret(client, pool);
        PoolState state = allocations.of(pool.getMetadata().getName(), pool.getMetadata().getUid(), () -> claims.list(c -> true).toList());
        Observed seen = observe(pool.getMetadata().getName());
        Set<String> foundLost = observeLiveness(client, events, pool, seen, state);
        state.allocator().setNodes(MemoryNodes.allocatorNodes(seen.mine(), foundLost));
        Placed placed = place(client, pool, spec, seen, foundLost);
        List<String> draining = retire(client, pool.getMetadata().getName(), seen, placed.plan(), foundLost, state.allocator());
        report(pool, spec, status, placed.plan(), seen.mine(), foundLost, draining, state);
        if (placed.refused() != null) reportRefusal(events, pool, status, placed.refused());
        StatusWriter.patchIfChanged(client, pool, status, false);
        metrics.pool(pool.getMetadata().getName(), status);
        return UpdateControl.<FarMemoryPool>noUpdate().rescheduleAfter(RESYNC);
    }

    /** What the caches hold of one pool: its memory nodes, their agent pods and Leases (by memory node), and every node. */
    private record Observed(List<MemoryNode> mine, Map<String, Pod> podOf, Map<String, Lease> leaseOf, List<Node> allNodes,
                            Map<String, Node> nodeByName) {}

    /** Where the agents go, and the refusal that stopped agent pods from being created (or null). */
    private record Placed(Placement.Plan plan, Refusal refused) {}

    /** Validate: a spec the schema cannot reject is a condition and a Warning Event, not a retry loop. */
    private static UpdateControl<FarMemoryPool> invalidSpec(KubernetesClient client, EventRecorder events, FarMemoryPool pool,
                                                            FarMemoryPoolStatus status, String invalid) {
        long generation = pool.getMetadata().getGeneration();
        boolean isNew = !"InvalidSpec".equals(reasonOf(pool.getStatus(), Conditions.READY));
        Conditions.set(status.conditions, Conditions.READY, false, "InvalidSpec", invalid, generation);
        Conditions.set(status.conditions, Conditions.PROGRESSING, false, "InvalidSpec", invalid, generation);
        Conditions.set(status.conditions, Conditions.DEGRADED, true, "InvalidSpec", invalid, generation);
        status.observedGeneration = generation;
        StatusWriter.patchIfChanged(client, pool, status, false);
        if (isNew) events.warning(pool, "InvalidSpec", invalid);
        return UpdateControl.noUpdate();
    }

    private Observed observe(String name) {
        List<MemoryNode> mine = memoryNodes.list(m -> m.getSpec() != null && name.equals(m.getSpec().pool)).toList();
        Map<String, Pod> podOf = pods.list(p -> name.equals(label(p, MemoryNode.POOL_LABEL)))
                .collect(Collectors.toMap(p -> p.getMetadata().getName(), p -> p));
        Map<String, Lease> leaseOf = leases.list(l -> name.equals(label(l, MemoryNode.POOL_LABEL)))
                .collect(Collectors.toMap(l -> l.getMetadata().getName(), l -> l));
        List<Node> allNodes = nodes.list(n -> true).toList();
        Map<String, Node> nodeByName = allNodes.stream().collect(Collectors.toMap(n -> n.getMetadata().getName(), n -> n));
        return new Observed(mine, podOf, leaseOf, allNodes, nodeByName);
    }

    /**
     * Observe liveness: a memory node whose agent stopped renewing its Lease, or whose pod is gone
     * or failed, is Lost for good. Returns every memory node found Lost (the pool state's record).
     */
    private Set<String> observeLiveness(KubernetesClient client, EventRecorder events, FarMemoryPool pool, Observed seen, PoolState state) {
        for (MemoryNode m : seen.mine()) {
            if (MemoryNodes.isLost(m, state.foundLost())) continue;
            String why = whyLost(m, seen.podOf().get(m.getMetadata().getName()), seen.leaseOf().get(m.getMetadata().getName()));
            if (why != null) {
                markLost(client, m, why);
                state.foundLost(m.getMetadata().getName());
                events.warning(pool, "MemoryNodeLost", "memory node " + m.getMetadata().getName() + " on node " + m.getSpec().nodeName + " is lost: " + why);
            }
        }
        return state.foundLost();
    }

    /** Place: one agent per chosen node, kept where it runs; a memory node without its pod gets one. */
    private Placed place(KubernetesClient client, FarMemoryPool pool, FarMemoryPoolSpec spec, Observed seen, Set<String> foundLost) {
        String name = pool.getMetadata().getName();
        List<MemoryNode> live = seen.mine().stream().filter(m -> !MemoryNodes.isLost(m, foundLost)).toList();
        Set<String> current = live.stream().map(m -> m.getSpec().nodeName).collect(Collectors.toSet());
        Placement.Plan plan = Placement.plan(spec, seen.allNodes(), current);
        Refusal refused = null; // once the API server refuses an agent pod for a reason the user must fix, no more are tried
        for (String node : plan.chosen()) {
            if (current.contains(node)) continue;
            MemoryNode m = AgentObjects.memoryNode(pool, AgentObjects.memoryNodeName(name, node), node, plan.zones().get(node), namespace);
            m = client.resource(m).create();
            // Seen by the next reconcile even before the watch delivers it: never two agents for one node.
            memoryNodes.handleRecentResourceCreate(ResourceID.fromResource(pool), m);
            createIfAbsent(client, AgentObjects.lease(m));
            if (refused == null) refused = createAgentPod(client, pool, m, seen.nodeByName().get(node));
            LOG.info("pool {}: placed memory node {} on node {}", name, m.getMetadata().getName(), node);
        }
        for (MemoryNode m : live) {
            if (refused == null && plan.chosen().contains(m.getSpec().nodeName) && !seen.podOf().containsKey(m.getMetadata().getName())
                    && !MemoryNodes.isReady(m)) {
                refused = createAgentPod(client, pool, m, seen.nodeByName().get(m.getSpec().nodeName));
            }
        }
        return new Placed(plan, refused);
    }

    /** Retire: memory nodes not chosen, and Lost ones, go once no claim holds slabs on them. Returns those still draining. */
    private static List<String> retire(KubernetesClient client, String name, Observed seen, Placement.Plan plan, Set<String> foundLost,
                                       SlabAllocator allocator) {
        List<String> draining = new ArrayList<>();
        Set<String> inUse = allocator.nodesInUse();
        for (MemoryNode m : seen.mine()) {
            String mName = m.getMetadata().getName();
            boolean lost = MemoryNodes.isLost(m, foundLost);
            if (!lost && plan.chosen().contains(m.getSpec().nodeName)) continue;
            Node node = seen.nodeByName().get(m.getSpec().nodeName);
            if (seen.podOf().containsKey(mName) && (lost || !inUse.contains(mName))) deletePod(client, seen.podOf().get(mName), node);
            if (!inUse.contains(mName)) {
                deleteQuietly(client, m);
                LOG.info("pool {}: retired memory node {}", name, mName);
            } else if (!lost) {
                draining.add(mName);
            }
        }
        return draining;
    }

    /** Report, when agent pods were refused: the refusal overrides the conditions, with a Warning Event when it is new. */
    private static void reportRefusal(EventRecorder events, FarMemoryPool pool, FarMemoryPoolStatus status, Refusal refused) {
        boolean isNew = !refused.reason().equals(reasonOf(pool.getStatus(), Conditions.DEGRADED));
        refused.report(status, pool.getMetadata().getGeneration());
        if (isNew) events.warning(pool, refused.reason(), refused.message());
    }

    @Override
    public DeleteControl cleanup(FarMemoryPool pool, Context<FarMemoryPool> context) {
        String name = pool.getMetadata().getName();
        KubernetesClient client = context.getClient();
        List<String> bound = claims.list(c -> c.getSpec() != null && name.equals(c.getSpec().pool)
                        && !PoolAllocations.extentsOf(c.getStatus()).isEmpty())
                .map(c -> c.getMetadata().getNamespace() + "/" + c.getMetadata().getName()).sorted().toList();
        if (!bound.isEmpty()) {
            FarMemoryPoolStatus status = copyOf(pool.getStatus());
            String why = bound.size() + " claim(s) still bound: " + String.join(", ", bound)
                    + "; the pool is deleted once they are deleted (its agents keep serving them until then)";
            Conditions.set(status.conditions, Conditions.READY, false, "Deleting", why, pool.getMetadata().getGeneration());
            try {
                StatusWriter.patchIfChanged(client, pool, status, false);
            } catch (KubernetesClientException e) {
                LOG.debug("pool {}: status not written while deleting: {}", name, e.getMessage());
            }
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(RESYNC);
        }
        Map<String, Node> nodeByName = nodes.list(n -> true).collect(Collectors.toMap(n -> n.getMetadata().getName(), n -> n));
        for (Pod p : pods.list(p -> name.equals(label(p, MemoryNode.POOL_LABEL))).toList()) {
            deletePod(client, p, nodeByName.get(p.getSpec().getNodeName()));
        }
        for (Lease l : leases.list(l -> name.equals(label(l, MemoryNode.POOL_LABEL))).toList()) deleteQuietly(client, l);
        for (MemoryNode m : memoryNodes.list(m -> m.getSpec() != null && name.equals(m.getSpec().pool)).toList()) deleteQuietly(client, m);
        client.secrets().inNamespace(namespace).withName(AgentObjects.keySecretName(name)).delete();
        allocations.forget(name);
        metrics.forgetPool(name);
        LOG.info("pool {}: deleted with its agents", name);
        return DeleteControl.defaultDelete();
    }

    /**
     * Fills what the API server's defaults leave empty (objects made by old CRD versions or by code), and what the
     * operator decides: the agent image, its pull policy and the RDMA resource, where the pool does not set them.
     */
    static FarMemoryPoolSpec withDefaults(FarMemoryPoolSpec spec, AgentDefaults defaults) {
        if (spec.agent == null) spec.agent = new FarMemoryPoolSpec.Agent();
        if (spec.agent.image == null || spec.agent.image.isBlank()) spec.agent.image = defaults.image();
        if (spec.agent.imagePullPolicy == null) spec.agent.imagePullPolicy = defaults.imagePullPolicy();
        if (spec.rdmaResource == null) spec.rdmaResource = defaults.rdmaResource();
        if (spec.capacity.minNodes == null) spec.capacity.minNodes = 1;
        if (spec.slabSizeBytes == null) spec.slabSizeBytes = 64L << 20;
        if (spec.topologyKey == null) spec.topologyKey = "topology.kubernetes.io/zone";
        if (spec.transport == null) spec.transport = "tcp";
        return spec;
    }

    /** What the schema cannot check; null when the spec is usable. */
    static String validate(FarMemoryPoolSpec spec) {
        FarMemoryPoolSpec.Capacity c = spec.capacity;
        if (c.maxNodes != null && c.minNodes > c.maxNodes) {
            return "capacity.minNodes (" + c.minNodes + ") is larger than capacity.maxNodes (" + c.maxNodes + "): lower minNodes or raise maxNodes";
        }
        if (c.totalBytes != null && c.totalBytes < c.perNodeBytes) {
            return "capacity.totalBytes (" + c.totalBytes + ") is smaller than one node's capacity.perNodeBytes (" + c.perNodeBytes + ")";
        }
        if (spec.hugepages != null) {
            long page = "1Gi".equals(spec.hugepages.pageSize) ? 1L << 30 : 2L << 20;
            if (c.perNodeBytes % page != 0) {
                return "capacity.perNodeBytes (" + c.perNodeBytes + ") is not a multiple of the hugepage size " + spec.hugepages.pageSize;
            }
        }
        if ("auto".equals(spec.transport) && spec.rdmaResource == null) {
            return "transport auto needs rdmaResource to find the nodes with RDMA devices (e.g. rdma/hca_shared_devices_a):"
                    + " set spec.rdmaResource or the chart's rdma.enabled and rdma.resourceName, or use transport tcp";
        }
        if ("rdma".equals(spec.transport) && spec.rdmaResource == null) {
            return "transport rdma needs rdmaResource, the device plugin resource agents request (e.g. rdma/hca_shared_devices_a):"
                    + " set spec.rdmaResource or the chart's rdma.enabled and rdma.resourceName";
        }
        return null;
    }

    private static void report(FarMemoryPool pool, FarMemoryPoolSpec spec, FarMemoryPoolStatus status, Placement.Plan plan, List<MemoryNode> mine,
                               Set<String> foundLost, List<String> draining, PoolState state) {
        long generation = pool.getMetadata().getGeneration();
        SlabAllocator allocator = state.allocator();
        List<MemoryNode> ready = mine.stream().filter(m -> MemoryNodes.acceptsSlabs(m, foundLost)).toList();
        List<String> lost = mine.stream().filter(m -> MemoryNodes.isLost(m, foundLost)).map(m -> m.getMetadata().getName()).sorted().toList();
        long slab = spec.slabSizeBytes;
        long total = ready.stream().mapToLong(m -> m.getSpec().capacityBytes).sum();
        long allocated = ready.stream().mapToLong(m -> allocator.usedSlabs(m.getMetadata().getName())).sum() * slab;
        int wanted = Math.max(plan.desired(), spec.capacity.minNodes);

        status.observedGeneration = generation;
        status.nodesDesired = plan.desired();
        status.nodesReady = ready.size();
        status.nodesLost = lost.size();
        status.bytesTotal = total;
        status.bytesAllocated = allocated;
        status.bytesFree = total - allocated;
        status.readyNodes = ready.size() + "/" + plan.desired();
        status.capacity = ByteSize.quantity(total);
        status.allocated = ByteSize.quantity(allocated);

        boolean isReady = ready.size() >= wanted;
        Conditions.set(status.conditions, Conditions.READY, isReady, isReady ? "NodesReady" : "NodesNotReady",
                ready.size() + " of " + wanted + " memory nodes are ready", generation);
        boolean progressing = ready.size() < plan.chosen().size() || !draining.isEmpty();
        String progress = !draining.isEmpty()
                ? "waiting for claims to release slabs on " + String.join(", ", draining) + " before retiring them"
                : progressing ? "starting agents: " + (plan.chosen().size() - ready.size()) + " not ready yet" : "every chosen node runs a ready agent";
        Conditions.set(status.conditions, Conditions.PROGRESSING, progressing, progressing ? "PlacingAgents" : "Stable", progress, generation);

        List<String> problems = new ArrayList<>();
        if (!lost.isEmpty()) problems.add("memory nodes lost: " + String.join(", ", lost));
        if (plan.chosen().size() < plan.desired()) {
            problems.add("only " + plan.chosen().size() + " eligible nodes for " + plan.desired() + " wanted"
                    + (plan.ineligible().isEmpty() ? "" : "; " + plan.ineligible().entrySet().stream().limit(5)
                    .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining("; "))));
        }
        List<String> restoreErrors = state.restoreErrors();
        if (!restoreErrors.isEmpty()) problems.add("claim statuses disagree: " + String.join("; ", restoreErrors));
        String degradedReason = !lost.isEmpty() ? "NodesLost" : plan.chosen().size() < plan.desired() ? "NotEnoughNodes"
                : !restoreErrors.isEmpty() ? "AllocationConflict" : "AsExpected";
        Conditions.set(status.conditions, Conditions.DEGRADED, !problems.isEmpty(), degradedReason,
                problems.isEmpty() ? "no memory node lost" : String.join("; ", problems), generation);
    }

    /**
     * Creates the agent pod of a memory node; null when it exists now, or what the API server's
     * refusal asks the user to fix (the pool reports it instead of retrying with stack traces).
     */
    private Refusal createAgentPod(KubernetesClient client, FarMemoryPool pool, MemoryNode m, Node node) {
        try {
            pods.handleRecentResourceCreate(ResourceID.fromResource(pool),
                    createIfAbsent(client, AgentObjects.agentPod(pool, m, node, agentServiceAccount, agentDefaults)));
            return null;
        } catch (KubernetesClientException e) {
            Refusal refusal = Refusal.of(e, namespace, agentServiceAccount);
            if (refusal == null) throw e;
            LOG.warn("pool {}: {}", pool.getMetadata().getName(), refusal.message());
            return refusal;
        }
    }

    /** The API server refused agent pods for a reason the user fixes: the pool says so in its conditions and an Event. */
    record Refusal(String reason, String message) {
        static final String SERVICE_ACCOUNT_MISSING = "AgentServiceAccountMissing";
        static final String FORBIDDEN = "AgentPodForbidden";

        /** The refusal in {@code e}, or null when it is not one the user fixes (then the reconcile fails and is retried). */
        static Refusal of(KubernetesClientException e, String namespace, String serviceAccount) {
            if (e.getCode() != 403) return null;
            String said = e.getStatus() != null && e.getStatus().getMessage() != null ? e.getStatus().getMessage() : String.valueOf(e.getMessage());
            if (said.contains("serviceaccount \"" + serviceAccount + "\" not found")) {
                return new Refusal(SERVICE_ACCOUNT_MISSING, "the agents' ServiceAccount " + namespace + "/" + serviceAccount + " does not exist, so no"
                        + " agent pod can start: kubectl apply -f examples/agent-rbac.yaml (or install the Helm chart), or run the operator with"
                        + " --agent-service-account (FARMEM_AGENT_SERVICE_ACCOUNT) naming one that exists in " + namespace);
            }
            return new Refusal(FORBIDDEN, "the API server refuses agent pods in namespace " + namespace + ": " + said);
        }

        /** No agent can start until the user acts: not Ready, not progressing, Degraded with the fix. */
        void report(FarMemoryPoolStatus status, long generation) {
            Conditions.set(status.conditions, Conditions.READY, false, reason, message, generation);
            Conditions.set(status.conditions, Conditions.PROGRESSING, false, reason, message, generation);
            Conditions.set(status.conditions, Conditions.DEGRADED, true, reason, message, generation);
        }
    }

    /** Why a memory node that is not yet Lost should be, or null. */
    static String whyLost(MemoryNode m, Pod pod, Lease lease) {
        if (MemoryNodes.isLost(m, Set.of())) return null;
        if (pod != null && ("Failed".equals(pod.getStatus() == null ? null : pod.getStatus().getPhase())
                || "Succeeded".equals(pod.getStatus() == null ? null : pod.getStatus().getPhase()))) {
            return "its agent pod exited" + exitDetail(pod);
        }
        if (!MemoryNodes.isReady(m)) return null;
        if (lease == null) return "its Lease is gone";
        if (lease.getSpec().getRenewTime() == null) return null;
        Instant renewed = lease.getSpec().getRenewTime().toInstant();
        int seconds = lease.getSpec().getLeaseDurationSeconds() == null ? AgentObjects.LEASE_SECONDS : lease.getSpec().getLeaseDurationSeconds();
        if (renewed.plusSeconds(seconds).isBefore(Instant.now())) return "its Lease expired at " + renewed.plusSeconds(seconds);
        if (pod == null) return "its agent pod is gone";
        return null;
    }

    /** Exit code, reason and message of the agent container, as the kubelet reported them. */
    static String exitDetail(Pod pod) {
        if (pod.getStatus().getContainerStatuses() == null) return pod.getStatus().getReason() == null ? "" : " (" + pod.getStatus().getReason() + ")";
        for (var c : pod.getStatus().getContainerStatuses()) {
            var t = c.getState() == null ? null : c.getState().getTerminated();
            if (t == null) continue;
            String message = t.getMessage() == null ? "" : ": " + t.getMessage().strip();
            if (message.length() > 300) message = message.substring(0, 300) + "...";
            return " (exit code " + t.getExitCode() + (t.getReason() == null ? "" : ", " + t.getReason()) + message + ")";
        }
        return "";
    }

    private void markLost(KubernetesClient client, MemoryNode m, String why) {
        MemoryNodeStatus status = m.getStatus() == null ? new MemoryNodeStatus() : client.getKubernetesSerialization().clone(m.getStatus());
        status.phase = MemoryNodeStatus.LOST;
        Conditions.set(status.conditions, Conditions.READY, false, "Lost", why, m.getMetadata().getGeneration());
        StatusWriter.patchIfChanged(client, m, status, false);
        LOG.warn("memory node {} is lost: {}", m.getMetadata().getName(), why);
    }

    private static String reasonOf(FarMemoryPoolStatus status, String type) {
        if (status == null) return null;
        var c = Conditions.find(status.conditions, type);
        return c == null ? null : c.getReason();
    }

    private static String label(io.fabric8.kubernetes.api.model.HasMetadata o, String key) {
        return o.getMetadata().getLabels() == null ? null : o.getMetadata().getLabels().get(key);
    }

    /** Deletes an agent pod; on a node that is gone or not Ready no kubelet will confirm, so it is removed at once. */
    private static void deletePod(KubernetesClient client, Pod pod, Node node) {
        boolean nodeDown = node == null || !Placement.isReady(node);
        try {
            if (nodeDown) client.resource(pod).withGracePeriod(0).delete();
            else client.resource(pod).delete();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) throw e;
        }
    }

    private static void deleteQuietly(KubernetesClient client, io.fabric8.kubernetes.api.model.HasMetadata o) {
        try {
            client.resource(o).delete();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) throw e;
        }
    }

    private static <T extends io.fabric8.kubernetes.api.model.HasMetadata> T createIfAbsent(KubernetesClient client, T o) {
        try {
            return client.resource(o).create();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) throw e;
            return client.resource(o).get();
        }
    }

    private void ensureKeySecret(KubernetesClient client, FarMemoryPool pool) {
        String secret = AgentObjects.keySecretName(pool.getMetadata().getName());
        if (client.secrets().inNamespace(namespace).withName(secret).get() != null) return;
        try {
            client.resource(AgentObjects.keySecret(pool, namespace)).create();
        } catch (KubernetesClientException e) {
            // Another reconcile made it first: the key must never change once agents use it.
            if (e.getCode() != 409) throw e;
        }
    }

    private static FarMemoryPoolStatus copyOf(FarMemoryPoolStatus s) {
        FarMemoryPoolStatus c = new FarMemoryPoolStatus();
        if (s == null) return c;
        c.observedGeneration = s.observedGeneration;
        c.conditions = new ArrayList<>(s.conditions == null ? List.of() : s.conditions);
        c.nodesDesired = s.nodesDesired;
        c.nodesReady = s.nodesReady;
        c.nodesLost = s.nodesLost;
        c.bytesTotal = s.bytesTotal;
        c.bytesAllocated = s.bytesAllocated;
        c.bytesFree = s.bytesFree;
        c.readyNodes = s.readyNodes;
        c.capacity = s.capacity;
        c.allocated = s.allocated;
        return c;
    }
}
