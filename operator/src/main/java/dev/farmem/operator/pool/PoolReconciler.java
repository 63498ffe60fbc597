package dev.farmem.operator.pool;

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
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.javaoperatorsdk.operator.api.config.ControllerConfigurationOverrider;
import io.javaoperatorsdk.operator.api.config.informer.InformerConfiguration;
import io.javaoperatorsdk.operator.api.config.informer.InformerEventSourceConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.Cleaner;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.ControllerConfiguration;
import io.javaoperatorsdk.operator.api.reconciler.DeleteControl;
import io.javaoperatorsdk.operator.api.reconciler.EventSourceContext;
import io.javaoperatorsdk.operator.api.reconciler.Reconciler;
import io.javaoperatorsdk.operator.api.reconciler.UpdateControl;
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResourceConfig;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResourceConfigBuilder;
import io.javaoperatorsdk.operator.processing.dependent.workflow.WorkflowReconcileResult;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.Mappers;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reconciles a FarMemoryPool in named steps, each a method of its own:
 * {@code validate -> observeLiveness -> place -> retire -> drain -> applyAgents -> report}
 * (validate: what the schema cannot check; observeLiveness: mark the Lost; place: a memory node
 * per chosen node; retire: memory nodes no longer chosen, once no claim holds slabs on them;
 * applyAgents: the objects the plan asks for, by the workflow's dependent resources; report: the
 * status, through {@link PoolStatusAggregator}). The owned objects are JOSDK dependent resources,
 * run by the reconcile when the plan is made (explicit invocation), so that their failures become
 * the pool's conditions: the key Secret ({@link PoolKeySecret}, created once), the agents' Leases
 * ({@link AgentLeases}), once the key exists the agent pods ({@link AgentPods}), and the agents'
 * disruption budget ({@link AgentDisruptionBudget}). Memory nodes that leave (drain, scale-down,
 * upgrade) have their slabs moved before their agents go ({@code drain}). Deleting a
 * pool that still has bound claims waits (the pool stays, Terminating, with the claims named in
 * its conditions) until they are deleted: a pool never pulls memory from under a workload.
 */
@Workflow(explicitInvocation = true, handleExceptionsInReconciler = true, dependents = {
        @Dependent(name = PoolKeySecret.NAME, type = PoolKeySecret.class),
        @Dependent(name = AgentLeases.NAME, type = AgentLeases.class),
        @Dependent(name = AgentPods.NAME, type = AgentPods.class, dependsOn = PoolKeySecret.NAME),
        @Dependent(name = AgentDisruptionBudget.NAME, type = AgentDisruptionBudget.class)})
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
    private final SlabMover mover;
    private InformerEventSource<Node, FarMemoryPool> nodes;
    private InformerEventSource<MemoryNode, FarMemoryPool> memoryNodes;
    private InformerEventSource<FarMemoryClaim, FarMemoryPool> claims;

    public PoolReconciler(String namespace, String agentServiceAccount, AgentDefaults agentDefaults, PoolAllocations allocations,
                          OperatorMetrics metrics) {
        this(namespace, agentServiceAccount, agentDefaults, allocations, metrics, new MoveByAnnotation());
    }

    /** @param mover moves the slabs of memory nodes that leave (drain, scale-down, upgrade) */
    public PoolReconciler(String namespace, String agentServiceAccount, AgentDefaults agentDefaults, PoolAllocations allocations,
                          OperatorMetrics metrics, SlabMover mover) {
        this.mover = mover;
        this.namespace = namespace;
        this.agentServiceAccount = agentServiceAccount;
        this.agentDefaults = agentDefaults;
        this.allocations = allocations;
        this.metrics = metrics;
    }

    /** The registration of this reconciler: its dependent resources watch the operator's namespace only. */
    public Consumer<ControllerConfigurationOverrider<FarMemoryPool>> configuration() {
        return o -> o.replacingNamedDependentResourceConfig(PoolKeySecret.NAME, agentObjects(Secret.class))
                .replacingNamedDependentResourceConfig(AgentLeases.NAME, agentObjects(Lease.class))
                .replacingNamedDependentResourceConfig(AgentPods.NAME, agentObjects(Pod.class))
                .replacingNamedDependentResourceConfig(AgentDisruptionBudget.NAME, agentObjects(PodDisruptionBudget.class));
    }

    /** A dependent's informer: the agents' objects ({@link AgentObjects#labels}) in the operator's namespace, and nothing else. */
    private <R extends HasMetadata> KubernetesDependentResourceConfig<R> agentObjects(Class<R> type) {
        return new KubernetesDependentResourceConfigBuilder<R>().withUseSSA(false)
                .withKubernetesDependentInformerConfig(InformerConfiguration.builder(type).withNamespaces(Set.of(namespace))
                        .withLabelSelector(AgentObjects.NAME_LABEL + "=" + AgentObjects.AGENT).build())
                .build();
    }

    @Override
    public List<EventSource<?, FarMemoryPool>> prepareEventSources(EventSourceContext<FarMemoryPool> context) {
        nodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(Node.class, FarMemoryPool.class)
                .withName("nodes")
                .withSecondaryToPrimaryMapper(n -> allPools(context))
                .build(), context);
        memoryNodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(MemoryNode.class, FarMemoryPool.class)
                .withName("memorynodes")
                .withSecondaryToPrimaryMapper(Mappers.fromLabel(MemoryNode.POOL_LABEL, null, FarMemoryPool.class))
                .build(), context);
        claims = new InformerEventSource<>(InformerEventSourceConfiguration.from(FarMemoryClaim.class, FarMemoryPool.class)
                .withName("claims-of-pools").withWatchAllNamespaces()
                .withSecondaryToPrimaryMapper(c -> c.getSpec() == null ? Set.of() : Set.of(new ResourceID(c.getSpec().pool)))
                .build(), context);
        return List.of(nodes, memoryNodes, claims);
    }

    private static Set<ResourceID> allPools(EventSourceContext<FarMemoryPool> context) {
        return context.getPrimaryCache().list().map(ResourceID::fromResource).collect(Collectors.toSet());
    }

    @Override
    public UpdateControl<FarMemoryPool> reconcile(FarMemoryPool pool, Context<FarMemoryPool> context) {
        KubernetesClient client = context.getClient();
        EventRecorder events = new EventRecorder(client);
        PoolStatusAggregator status = new PoolStatusAggregator(client, pool);
        FarMemoryPoolSpec spec = withDefaults(pool.getSpec(), agentDefaults);

        String invalid = validate(spec);
        if (invalid != null) {
            // A spec the schema cannot reject is a condition and a Warning Event, not a retry loop.
            status.userMustAct("InvalidSpec", invalid);
            status.write(events);
            return UpdateControl.noUpdate();
        }
        PoolState state = allocations.of(pool.getMetadata().getName(), pool.getMetadata().getUid(), () -> claims.list(c -> true).toList());
        Observed seen = observe(pool.getMetadata().getName(), context);
        Set<String> foundLost = observeLiveness(client, events, pool, seen, state);
        state.allocator().setNodes(MemoryNodes.allocatorNodes(seen.mine(), foundLost));
        Placed placed = place(client, pool, spec, seen, foundLost);
        Retired retired = retire(client, pool.getMetadata().getName(), seen, placed.plan(), foundLost, state.allocator());
        DrainPlan drained = drain(client, events, pool, spec, seen, placed.plan(), foundLost, state.allocator(), retired);
        Refusal refused = applyAgents(context, seen, placed, retired, foundLost, drained);
        report(status, spec, placed.plan(), seen.mine(), foundLost, retired.draining(), state);
        if (refused != null) status.userMustAct(refused.reason(), refused.message());
        FarMemoryPoolStatus written = status.write(events);
        metrics.pool(pool.getMetadata().getName(), written);
        return UpdateControl.<FarMemoryPool>noUpdate().rescheduleAfter(RESYNC);
    }

    /** What the caches hold of one pool: its memory nodes, their agent pods and Leases (by memory node), and every node. */
    private record Observed(List<MemoryNode> mine, Map<String, Pod> podOf, Map<String, Lease> leaseOf, List<Node> allNodes,
                            Map<String, Node> nodeByName) {}

    /** Where the agents go, and the memory nodes made for it in this reconcile. */
    private record Placed(Placement.Plan plan, List<MemoryNode> created) {}

    /** The memory nodes deleted in this reconcile, and those that wait for claims to release their slabs. */
    private record Retired(Set<String> deleted, List<String> draining) {}

    private Observed observe(String name, Context<FarMemoryPool> context) {
        List<MemoryNode> mine = memoryNodes.list(m -> m.getSpec() != null && name.equals(m.getSpec().pool)).toList();
        // The dependents' informers map agent pods and Leases to their pool by its label.
        Map<String, Pod> podOf = context.getSecondaryResourcesAsStream(Pod.class).collect(Collectors.toMap(p -> p.getMetadata().getName(), p -> p));
        Map<String, Lease> leaseOf = context.getSecondaryResourcesAsStream(Lease.class)
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

    /** Place: one memory node per chosen node, kept where it runs; a chosen node without a live one gets a new one. */
    private Placed place(KubernetesClient client, FarMemoryPool pool, FarMemoryPoolSpec spec, Observed seen, Set<String> foundLost) {
        String name = pool.getMetadata().getName();
        Set<String> current = seen.mine().stream().filter(m -> !MemoryNodes.isLost(m, foundLost)).map(m -> m.getSpec().nodeName)
                .collect(Collectors.toSet());
        Placement.Plan plan = Placement.plan(spec, seen.allNodes(), current);
        List<MemoryNode> created = new ArrayList<>();
        for (String node : plan.chosen()) {
            if (current.contains(node)) continue;
            MemoryNode m = AgentObjects.memoryNode(pool, AgentObjects.memoryNodeName(name, node), node, plan.zones().get(node), namespace);
            m = client.resource(m).create();
            // Seen by the next reconcile even before the watch delivers it: never two agents for one node.
            memoryNodes.handleRecentResourceCreate(ResourceID.fromResource(pool), m);
            created.add(m);
            LOG.info("pool {}: placed memory node {} on node {}", name, m.getMetadata().getName(), node);
        }
        return new Placed(plan, created);
    }

    /** Retire: memory nodes not chosen, and Lost ones, go once no claim holds slabs on them (their agents with them). */
    private static Retired retire(KubernetesClient client, String name, Observed seen, Placement.Plan plan, Set<String> foundLost,
                                  SlabAllocator allocator) {
        Set<String> deleted = new HashSet<>();
        List<String> draining = new ArrayList<>();
        Set<String> inUse = allocator.nodesInUse();
        for (MemoryNode m : seen.mine()) {
            String mName = m.getMetadata().getName();
            boolean lost = MemoryNodes.isLost(m, foundLost);
            if (!lost && plan.chosen().contains(m.getSpec().nodeName)) continue;
            if (!inUse.contains(mName)) {
                client.resource(m).delete();
                deleted.add(mName);
                LOG.info("pool {}: retired memory node {}", name, mName);
            } else if (!lost) {
                draining.add(mName);
            }
        }
        return new Retired(deleted, draining);
    }

    /**
     * Drain: memory nodes that leave ({@link Departures}: a cordoned node, one no longer eligible or
     * wanted, an agent image changed) have their slabs moved ({@link SlabMover}); once one holds none,
     * its pod is released from the pool's disruption budget, and an upgraded one is replaced (one at a
     * time, {@link DrainPlan}). Each leaving memory node's status says why it drains and what it waits
     * for, and it accepts no new slab meanwhile ({@link MemoryNodes#acceptsSlabs}).
     */
    private DrainPlan drain(KubernetesClient client, EventRecorder events, FarMemoryPool pool, FarMemoryPoolSpec spec, Observed seen,
                       Placement.Plan plan, Set<String> foundLost, SlabAllocator allocator, Retired retired) {
        List<MemoryNode> live = seen.mine().stream().filter(m -> !MemoryNodes.isLost(m, foundLost) && !retired.deleted().contains(m.getMetadata().getName()))
                .toList();
        List<Departures.Departure> leaving = Departures.of(live, plan, seen.podOf(), spec.agent.image);
        Set<String> holding = allocator.nodesInUse();
        Set<String> marked = live.stream().filter(MemoryNodes::isMovingAway).map(m -> m.getMetadata().getName()).collect(Collectors.toSet());
        DrainPlan todo = DrainPlan.of(leaving, holding, seen.podOf(), marked);
        Map<String, String> why = new java.util.HashMap<>(todo.waiting());
        for (Departures.Departure d : todo.move()) {
            MemoryNode m = live.stream().filter(x -> x.getMetadata().getName().equals(d.memoryNode())).findFirst().orElseThrow();
            why.put(d.memoryNode(), mover.move(client, m, d));
        }
        for (String m : todo.release()) {
            labelPod(client, m, "true");
            why.putIfAbsent(m, "its slabs moved: its agent may go");
        }
        for (String m : todo.protect()) labelPod(client, m, null);
        for (String name : todo.unmark()) {
            mover.finish(client, live.stream().filter(x -> x.getMetadata().getName().equals(name)).findFirst().orElseThrow());
            LOG.info("pool {}: memory node {} holds no slab any more and stays: its move is over", pool.getMetadata().getName(), name);
        }
        for (MemoryNode m : live) {
            String name = m.getMetadata().getName();
            // An upgrade that waits for its turn is not draining yet: it keeps taking slabs.
            Departures.Departure d = todo.waiting().containsKey(name) ? null
                    : leaving.stream().filter(x -> x.memoryNode().equals(name)).findFirst().orElse(null);
            String draining = d == null ? null : d.message() + ": " + why.getOrDefault(name, "its slabs moved: its agent may go");
            if (d != null && (m.getStatus() == null || !Objects.equals(draining, m.getStatus().draining))) {
                events.normal(pool, "MemoryNodeDraining", "memory node " + name + " drains: " + draining);
            }
            setDraining(client, m, draining);
        }
        for (String name : todo.replace()) {
            MemoryNode m = live.stream().filter(x -> x.getMetadata().getName().equals(name)).findFirst().orElseThrow();
            client.resource(m).delete();
            retired.deleted().add(name);
            LOG.info("pool {}: memory node {} holds no slab: replaced for the agent upgrade", pool.getMetadata().getName(), name);
        }
        return todo;
    }

    /** Marks (or unmarks, with null) an agent pod as holding no claim slab: the pool's disruption budget covers only unmarked pods. */
    private void labelPod(KubernetesClient client, String memoryNode, String value) {
        try {
            client.pods().inNamespace(namespace).withName(memoryNode).edit(p -> {
                if (value == null) {
                    if (p.getMetadata().getLabels() != null) p.getMetadata().getLabels().remove(AgentObjects.SLABS_MOVED_LABEL);
                } else {
                    p.getMetadata().getLabels().put(AgentObjects.SLABS_MOVED_LABEL, value);
                }
                return p;
            });
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) throw e; // a pod that is gone needs no label
        }
    }

    /** The MemoryNode status says why it drains (null: it does not); a conflict with the agent's own write is retried next time. */
    private static void setDraining(KubernetesClient client, MemoryNode m, String draining) {
        if (Objects.equals(draining, m.getStatus() == null ? null : m.getStatus().draining)) return;
        MemoryNodeStatus status = m.getStatus() == null ? new MemoryNodeStatus() : client.getKubernetesSerialization().clone(m.getStatus());
        status.draining = draining;
        try {
            StatusWriter.patchIfChanged(client, m, status, true);
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409 && e.getCode() != 404) throw e;
        }
    }

    /**
     * Apply the plan through the workflow: the key Secret, a Lease per memory node that is not
     * Lost, and an agent pod per memory node that serves (chosen or draining); other agent pods
     * and Leases of the pool go; the disruption budget guards the agent pods the drain plan does not
     * release. Returns the refusal of agent pods the user must fix, or null; any other failure fails
     * the reconcile, which is retried.
     */
    private Refusal applyAgents(Context<FarMemoryPool> context, Observed seen, Placed placed, Retired retired, Set<String> foundLost,
                                DrainPlan drained) {
        List<MemoryNode> all = new ArrayList<>(seen.mine());
        all.addAll(placed.created());
        List<MemoryNode> leased = all.stream().filter(m -> !MemoryNodes.isLost(m, foundLost) && !retired.deleted().contains(m.getMetadata().getName()))
                .toList();
        List<AgentPlan.Agent> agents = leased.stream()
                .filter(m -> placed.plan().chosen().contains(m.getSpec().nodeName) || retired.draining().contains(m.getMetadata().getName()))
                .map(m -> new AgentPlan.Agent(m, seen.nodeByName().get(m.getSpec().nodeName))).toList();
        var workflow = context.managedWorkflowAndDependentResourceContext();
        int guarded = drained.guarded(agents.stream().map(a -> a.memoryNode().getMetadata().getName()).toList(), seen.podOf());
        workflow.put(AgentPlan.class, new AgentPlan(namespace, agentServiceAccount, agentDefaults, leased, agents, guarded));
        WorkflowReconcileResult result = workflow.reconcileManagedWorkflow();
        Refusal refused = null;
        for (var failed : result.getErroredDependents().entrySet()) {
            refused = failed.getKey() instanceof AgentPods ? Refusal.of(failed.getValue(), namespace, agentServiceAccount) : null;
            if (refused == null) result.throwAggregateExceptionIfErrorsPresent();
            LOG.warn("pool {}: {}", context.getPrimaryResource().getMetadata().getName(), refused.message());
        }
        return refused;
    }

    /** Report: what the pool has, what is wrong with it, through the status aggregator. */
    private static void report(PoolStatusAggregator status, FarMemoryPoolSpec spec, Placement.Plan plan, List<MemoryNode> mine,
                               Set<String> foundLost, List<String> draining, PoolState state) {
        SlabAllocator allocator = state.allocator();
        List<MemoryNode> ready = mine.stream().filter(m -> MemoryNodes.acceptsSlabs(m, foundLost)).toList();
        List<String> lost = mine.stream().filter(m -> MemoryNodes.isLost(m, foundLost)).map(m -> m.getMetadata().getName()).sorted().toList();
        long total = ready.stream().mapToLong(m -> m.getSpec().capacityBytes).sum();
        long allocated = ready.stream().mapToLong(m -> allocator.usedSlabs(m.getMetadata().getName())).sum() * spec.slabSizeBytes;
        int wanted = Math.max(plan.desired(), spec.capacity.minNodes);
        status.nodes(plan.desired(), wanted, plan.chosen().size(), ready.size(), lost.size(), total, allocated, draining);

        if (!lost.isEmpty()) status.problem("NodesLost", "memory nodes lost: " + String.join(", ", lost));
        if (plan.chosen().size() < plan.desired()) {
            status.problem("NotEnoughNodes", "only " + plan.chosen().size() + " eligible nodes for " + plan.desired() + " wanted"
                    + (plan.ineligible().isEmpty() ? "" : "; " + plan.ineligible().entrySet().stream().limit(5)
                    .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining("; "))));
        }
        List<String> restoreErrors = state.restoreErrors();
        if (!restoreErrors.isEmpty()) status.problem("AllocationConflict", "claim statuses disagree: " + String.join("; ", restoreErrors));
    }

    @Override
    public DeleteControl cleanup(FarMemoryPool pool, Context<FarMemoryPool> context) {
        String name = pool.getMetadata().getName();
        KubernetesClient client = context.getClient();
        List<String> bound = claims.list(c -> c.getSpec() != null && name.equals(c.getSpec().pool)
                        && !PoolAllocations.extentsOf(c.getStatus()).isEmpty())
                .map(c -> c.getMetadata().getNamespace() + "/" + c.getMetadata().getName()).sorted().toList();
        if (!bound.isEmpty()) {
            PoolStatusAggregator status = new PoolStatusAggregator(client, pool);
            status.deleting(bound.size() + " claim(s) still bound: " + String.join(", ", bound)
                    + "; the pool is deleted once they are deleted (its agents keep serving them until then)");
            try {
                status.write(new EventRecorder(client));
            } catch (KubernetesClientException e) {
                LOG.debug("pool {}: status not written while deleting: {}", name, e.getMessage());
            }
            return DeleteControl.noFinalizerRemoval().rescheduleAfter(RESYNC);
        }
        // The agent pods and Leases (the workflow's cleanup), then the memory nodes; the key Secret is collected with the pool.
        context.managedWorkflowAndDependentResourceContext().cleanupManageWorkflow().throwAggregateExceptionIfErrorsPresent();
        for (MemoryNode m : memoryNodes.list(m -> m.getSpec() != null && name.equals(m.getSpec().pool)).toList()) client.resource(m).delete();
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

    /** The API server refused agent pods for a reason the user fixes: the pool says so in its conditions and an Event. */
    record Refusal(String reason, String message) {
        static final String SERVICE_ACCOUNT_MISSING = "AgentServiceAccountMissing";
        static final String FORBIDDEN = "AgentPodForbidden";

        /** The refusal in a failure of the agent pods' dependent resource (the API server's exception or one that wraps it), or null. */
        static Refusal of(Throwable failure, String namespace, String serviceAccount) {
            for (Throwable t = failure; t != null; t = t.getCause()) {
                if (t instanceof KubernetesClientException e) return of(e, namespace, serviceAccount);
            }
            return null;
        }

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
            PoolStatusAggregator.userMustAct(status, reason, message, generation);
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

}
