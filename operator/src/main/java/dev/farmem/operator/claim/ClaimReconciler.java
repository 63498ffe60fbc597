package dev.farmem.operator.claim;

import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.MemoryNode;
import dev.farmem.operator.allocation.MemoryNodes;
import dev.farmem.operator.allocation.PoolAllocations;
import dev.farmem.operator.allocation.PoolState;
import dev.farmem.operator.allocation.SlabAllocator;
import dev.farmem.operator.metrics.OperatorMetrics;
import dev.farmem.operator.placement.Placement;
import dev.farmem.operator.pool.AgentObjects;
import dev.farmem.operator.status.EventRecorder;
import io.fabric8.kubernetes.api.model.Secret;
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
import io.javaoperatorsdk.operator.api.reconciler.Workflow;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Dependent;
import io.javaoperatorsdk.operator.processing.dependent.workflow.WorkflowReconcileResult;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binds a FarMemoryClaim in named steps: {@code findPool -> allocate -> checkReplicas -> heal ->
 * writeBinding -> fill -> report} (findPool: the pool and whether the claim fits it; allocate: slabs,
 * recorded in the status, the only record, before anyone is told; checkReplicas: lost replicas,
 * and whether some data is gone; heal: new replicas for those on lost or leaving nodes, recorded,
 * then joined on their agents ({@link ReplicaHealing}); writeBinding: the binding Secret, a
 * dependent resource the workflow writes after the status, hence explicit invocation; fill: the
 * agents' copies into the new replicas, followed until done; report: the status, through
 * {@link ClaimStatusAggregator}). A claim that cannot be bound stays Pending with the reason.
 * Deleting a claim frees its slabs and deletes its binding Secret.
 */
@Workflow(explicitInvocation = true, handleExceptionsInReconciler = true,
        dependents = @Dependent(name = BindingSecretDependent.NAME, type = BindingSecretDependent.class))
@ControllerConfiguration(name = ClaimReconciler.NAME)
public class ClaimReconciler implements Reconciler<FarMemoryClaim>, Cleaner<FarMemoryClaim> {
    public static final String NAME = "farmemoryclaim";
    private static final Logger LOG = LoggerFactory.getLogger(ClaimReconciler.class);
    static final Duration RETRY_PENDING = Duration.ofSeconds(5);
    static final Duration RESYNC_BOUND = Duration.ofSeconds(60);
    /** How soon a claim whose replicas cannot be filled yet (a join, binding or copy failed) tries again; a running copy is paced by {@link CopyPace}. */
    static final Duration FOLLOW_COPY = Duration.ofSeconds(2);

    private final String namespace;
    private final PoolAllocations allocations;
    private final OperatorMetrics metrics;
    private InformerEventSource<MemoryNode, FarMemoryClaim> memoryNodes;
    private InformerEventSource<FarMemoryPool, FarMemoryClaim> pools;
    /** The pace of each claim's running copies, by claim uid: in memory only, since it decides nothing but when to look. */
    private final Map<String, CopyPace> paces = new ConcurrentHashMap<>();

    public ClaimReconciler(String namespace, PoolAllocations allocations, OperatorMetrics metrics) {
        this.namespace = namespace;
        this.allocations = allocations;
        this.metrics = metrics;
    }

    @Override
    public List<EventSource<?, FarMemoryClaim>> prepareEventSources(EventSourceContext<FarMemoryClaim> context) {
        memoryNodes = new InformerEventSource<>(InformerEventSourceConfiguration.from(MemoryNode.class, FarMemoryClaim.class)
                .withName("memorynodes-of-claims")
                .withSecondaryToPrimaryMapper(m -> m.getSpec() == null ? Set.of() : claimsOf(context, m.getSpec().pool))
                .build(), context);
        pools = new InformerEventSource<>(InformerEventSourceConfiguration.from(FarMemoryPool.class, FarMemoryClaim.class)
                .withName("pools-of-claims")
                .withSecondaryToPrimaryMapper(p -> claimsOf(context, p.getMetadata().getName()))
                .build(), context);
        return List.of(memoryNodes, pools);
    }

    private static Set<ResourceID> claimsOf(EventSourceContext<FarMemoryClaim> context, String pool) {
        return context.getPrimaryCache().list(c -> c.getSpec() != null && pool.equals(c.getSpec().pool))
                .map(ResourceID::fromResource).collect(Collectors.toSet());
    }

    /** Where a step leaves the claim: the next step runs only when {@code then} is null; {@code report}: the status is written first. */
    private record Step(UpdateControl<FarMemoryClaim> then, boolean report) {
        static final Step NEXT = new Step(null, true);

        Step(UpdateControl<FarMemoryClaim> then) {
            this(then, true);
        }

        boolean stops() {
            return then != null;
        }
    }

    @Override
    public UpdateControl<FarMemoryClaim> reconcile(FarMemoryClaim claim, Context<FarMemoryClaim> context) {
        KubernetesClient client = context.getClient();
        EventRecorder events = new EventRecorder(client);
        ClaimStatusAggregator status = new ClaimStatusAggregator(client, claim);
        String poolName = claim.getSpec().pool;
        FarMemoryPool pool = pools.get(new ResourceID(poolName)).orElse(null);
        boolean bound = !PoolAllocations.extentsOf(claim.getStatus()).isEmpty();

        Step found = findPool(claim, pool, bound, status);
        if (found.stops()) return report(claim, status, events, found.then());
        PoolState state = allocations.of(poolName, pool.getMetadata().getUid(), () -> context.getPrimaryCache().list().toList());
        Map<String, MemoryNode> nodes = memoryNodes.list(m -> m.getSpec() != null && poolName.equals(m.getSpec().pool))
                .collect(Collectors.toMap(m -> m.getMetadata().getName(), Function.identity()));
        if (!bound) {
            Step allocated = allocate(client, events, claim, pool, state, nodes, status);
            if (allocated.stops()) return allocated.report() ? report(claim, status, events, allocated.then()) : allocated.then();
        }
        List<Binding.Extent> extents = PoolAllocations.extentsOf(status.status());
        Set<String> lost = nodesOf(extents).stream().filter(n -> MemoryNodes.isLost(nodes.get(n), state.foundLost())).collect(Collectors.toSet());
        Step replicas = checkReplicas(extents, lost, status);
        if (replicas.stops()) return report(claim, status, events, replicas.then());
        Heal heal = heal(client, events, claim, pool, state, nodes, lost, status);
        extents = PoolAllocations.extentsOf(status.status());
        String problem = heal.joinProblem() != null ? heal.joinProblem() : writeBinding(context, claim, pool, state, status.status(), extents, nodes);
        ReplicaHealing.Progress progress = problem == null && heal.filling() ? fill(client, events, claim, pool, state, nodes, lost, status) : null;
        status.serving(lost, problem, progress, heal.failures());
        metrics.rereplication(claim.getMetadata().getNamespace() + "/" + claim.getMetadata().getName(), poolName, progress == null ? 0 : progress.toGo());
        boolean healing = heal.filling() || !heal.failures().isEmpty();
        if (!heal.filling()) paces.remove(claim.getMetadata().getUid());
        return report(claim, status, events, UpdateControl.<FarMemoryClaim>noUpdate()
                // Looked at every quarter of the tokens' life (at most RESYNC_BOUND), so they are renewed before three quarters of it.
                .rescheduleAfter(healing ? nextLook(claim, progress, heal.failures())
                        : problem == null ? BindingSecret.lifetime(pool).checkEvery(RESYNC_BOUND) : RETRY_PENDING));
    }

    /**
     * When a healing claim is looked at again: a running copy when it should be done ({@link CopyPace}), a copy with
     * nothing to go at once (its binding then drops the filling replicas), anything that failed after {@link #FOLLOW_COPY}.
     */
    private Duration nextLook(FarMemoryClaim claim, ReplicaHealing.Progress progress, List<String> failures) {
        if (progress == null || progress.filling() == 0 || !progress.problems().isEmpty() || !failures.isEmpty()) return FOLLOW_COPY;
        long now = System.nanoTime();
        CopyPace pace = paces.compute(claim.getMetadata().getUid(),
                (uid, seen) -> seen == null || progress.copied() < seen.copiedAtStart() ? CopyPace.start(now, progress.copied()) : seen);
        return pace.next(now, progress.copied(), progress.toGo());
    }

    /** What {@link #heal} leaves for the rest of the reconcile: whether replicas are being filled, why the new ones could not join or be placed. */
    private record Heal(boolean filling, String joinProblem, List<String> failures) {}

    /**
     * Heal, first half: a new replica for every one on a lost node or a node moving its slabs away, recorded at a new
     * epoch before anyone is told (as an allocation), then joined on its agent before any binding names it.
     */
    private Heal heal(KubernetesClient client, EventRecorder events, FarMemoryClaim claim, FarMemoryPool pool, PoolState state,
                      Map<String, MemoryNode> nodes, Set<String> lost, ClaimStatusAggregator status) {
        FarMemoryClaimStatus st = status.status();
        Set<String> leaving = new HashSet<>(lost);
        for (FarMemoryClaimStatus.Extent e : st.extents) {
            for (FarMemoryClaimStatus.Replica r : e.replicas) if (MemoryNodes.isMovingAway(nodes.get(r.node))) leaving.add(r.node);
        }
        List<String> failures = new ArrayList<>();
        boolean anyToHeal = st.extents.stream().anyMatch(e -> e.replicas.stream().anyMatch(r -> leaving.contains(r.node) || ReplicaHealing.filling(r)));
        if (!anyToHeal) return new Heal(false, null, failures);
        TokenIssuer issuer = issuer(client, state, pool.getMetadata().getName());
        if (issuer == null) return new Heal(false, null, List.of("the key of pool " + pool.getMetadata().getName() + " is missing"));
        String key = PoolAllocations.key(claim);
        SlabAllocator allocator = state.allocator();
        allocator.setNodes(MemoryNodes.allocatorNodes(nodes.values(), state.foundLost()));
        List<Binding.Extent> before = PoolAllocations.extentsOf(st);
        Long epochBefore = st.epoch;
        if (ReplicaHealing.place(key, st, allocator, leaving, lost, failures)) {
            st.epoch = state.nextEpoch();
            try {
                // Locked, as an allocation: the status is the record of the new replicas' slabs.
                status.write(events, true);
            } catch (KubernetesClientException e) {
                if (e.getCode() == 409 || !persisted(client, claim, st)) {
                    allocator.setExtents(key, before);
                    st.extents = PoolAllocations.toStatus(before);
                    st.epoch = epochBefore;
                }
                throw e;
            }
            events.normal(claim, "Rereplicating", "new replicas on " + fillingNodes(st) + " replace those on " + String.join(", ", leaving.stream().sorted().toList())
                    + "; the agents copy the data while the claim stays in use");
            LOG.info("claim {}/{}: new replicas on {} (epoch {})", claim.getMetadata().getNamespace(), claim.getMetadata().getName(), fillingNodes(st), st.epoch);
        }
        boolean filling = st.extents.stream().anyMatch(e -> e.replicas.stream().anyMatch(ReplicaHealing::filling));
        if (!filling) return new Heal(false, null, failures);
        List<String> joinFailures = ReplicaHealing.join(claim.getMetadata().getUid(), st, nodes, issuer, BindingSecret.lifetime(pool));
        return new Heal(true, joinFailures.isEmpty() ? null : String.join("; ", joinFailures), failures);
    }

    /**
     * Heal, second half, once the binding names the new replicas: fence, copy, follow; a replica whose copy is done is
     * recorded complete and the one it replaced is dropped (its slabs freed).
     */
    private ReplicaHealing.Progress fill(KubernetesClient client, EventRecorder events, FarMemoryClaim claim, FarMemoryPool pool, PoolState state,
                                         Map<String, MemoryNode> nodes, Set<String> lost, ClaimStatusAggregator status) {
        FarMemoryClaimStatus st = status.status();
        List<FarMemoryClaimStatus.Replica> completed = new ArrayList<>();
        ReplicaHealing.Progress p = ReplicaHealing.fill(claim.getMetadata().getUid(), st, nodes, lost, issuer(client, state, pool.getMetadata().getName()),
                BindingSecret.lifetime(pool), completed);
        if (!completed.isEmpty()) {
            // Locked, as an allocation: the replaced replicas' slabs are free only once the status no longer names them.
            status.write(events, true);
            state.allocator().setExtents(PoolAllocations.key(claim), PoolAllocations.extentsOf(st));
            events.normal(claim, "Rereplicated", "replicas on " + String.join(", ", completed.stream().map(r -> r.node).sorted().toList())
                    + " are complete; " + (p.filling() - completed.size()) + " still filling");
            LOG.info("claim {}/{}: replicas on {} complete", claim.getMetadata().getNamespace(), claim.getMetadata().getName(),
                    completed.stream().map(r -> r.node).toList());
        }
        return p;
    }

    private static String fillingNodes(FarMemoryClaimStatus st) {
        return String.join(", ", st.extents.stream().flatMap(e -> e.replicas.stream()).filter(ReplicaHealing::filling).map(r -> r.node).sorted().distinct().toList());
    }

    /** Find the pool: a claim without one waits (or, once bound, has lost its memory); a size that is not whole slabs is the user's to fix. */
    private static Step findPool(FarMemoryClaim claim, FarMemoryPool pool, boolean bound, ClaimStatusAggregator status) {
        String poolName = claim.getSpec().pool;
        if (pool == null) {
            if (bound) {
                status.released("PoolDeleted", "pool " + poolName + " no longer exists: the memory of this claim is gone; delete the claim");
                return new Step(UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(RESYNC_BOUND));
            }
            return pending(status, "PoolNotFound", "pool " + poolName + " does not exist: create it or fix spec.pool", false);
        }
        if (bound) return Step.NEXT;
        if (pool.getMetadata().getDeletionTimestamp() != null) return pending(status, "PoolDeleting", "pool " + poolName + " is being deleted", false);
        long slab = pool.getSpec().slabSizeBytes;
        if (claim.getSpec().sizeBytes % slab != 0) {
            return pending(status, "InvalidSize", "sizeBytes " + claim.getSpec().sizeBytes
                    + " is not a multiple of the slab size " + slab + " of pool " + poolName + ": use a multiple of " + slab, true);
        }
        return Step.NEXT;
    }

    /**
     * Allocate: slabs on the pool's memory nodes and a fresh epoch, written to the claim status
     * with the resourceVersion before anyone is told about them (the status is their only record).
     */
    private Step allocate(KubernetesClient client, EventRecorder events, FarMemoryClaim claim, FarMemoryPool pool, PoolState state,
                          Map<String, MemoryNode> nodes, ClaimStatusAggregator status) {
        String poolName = pool.getMetadata().getName();
        if (issuer(client, state, poolName) == null) return pending(status, "WaitingForPool", "pool " + poolName + " has no token key yet", false);
        SlabAllocator allocator = state.allocator();
        if (allocator.extentsOf(PoolAllocations.key(claim)).isPresent()) {
            // Bound by an earlier reconcile whose status write the cache has not delivered yet: the status read is stale, write nothing.
            return new Step(UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(Duration.ofSeconds(1)), false);
        }
        long slab = pool.getSpec().slabSizeBytes;
        allocator.setNodes(MemoryNodes.allocatorNodes(nodes.values(), state.foundLost()));
        SlabAllocator.Allocation a = allocator.allocate(PoolAllocations.key(claim), claim.getSpec().sizeBytes / slab, claim.getSpec().replication);
        if (!a.ok()) return pending(status, "InsufficientCapacity", a.failure(), false);

        status.bound(slab, state.nextEpoch(), BindingSecret.name(claim), PoolAllocations.toStatus(a.extents()),
                a.extents().size() + " extent(s) on " + nodesOf(a.extents()).size() + " memory node(s)");
        try {
            // Locked: the status is the record of these slabs, written before anyone is told about them.
            status.write(events, true);
        } catch (KubernetesClientException e) {
            if (e.getCode() == 409 || !persisted(client, claim, status.status())) allocator.free(PoolAllocations.key(claim));
            throw e;
        }
        LOG.info("claim {}/{} bound: {} slabs x{} in {} extents", claim.getMetadata().getNamespace(), claim.getMetadata().getName(),
                claim.getSpec().sizeBytes / slab, claim.getSpec().replication, a.extents().size());
        events.normal(claim, "Bound", "bound to " + nodesOf(a.extents()).size() + " memory node(s) of pool " + poolName);
        return Step.NEXT;
    }

    /**
     * Check replicas: a claim keeps working on live replicas; when every complete replica of some slab is lost (a
     * replica still being filled holds only part of it), its data is gone.
     */
    private static Step checkReplicas(List<Binding.Extent> extents, Set<String> lost, ClaimStatusAggregator status) {
        List<String> gone = extents.stream().filter(e -> e.replicas().stream().allMatch(r -> r.filling() || lost.contains(r.node())))
                .map(e -> e.firstSlab() + ".." + (e.firstSlab() + e.count() - 1)).toList();
        if (gone.isEmpty()) return Step.NEXT;
        status.released("DataLost", "every complete replica of claim slabs " + gone
                + " was on a lost memory node (" + String.join(", ", lost.stream().sorted().toList())
                + "): the data of those slabs is gone (clients get an error for them, never zeros); delete and recreate the claim");
        return new Step(UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(RESYNC_BOUND));
    }

    /**
     * Write the binding: the workflow's binding Secret, with the recorded extents and epoch, when
     * it is missing, stale or its tokens are past half-life ({@link BindingSecretDependent#match}).
     * Returns what keeps it from being written, or null.
     */
    private String writeBinding(Context<FarMemoryClaim> context, FarMemoryClaim claim, FarMemoryPool pool, PoolState state,
                                FarMemoryClaimStatus status, List<Binding.Extent> extents, Map<String, MemoryNode> nodes) {
        TokenIssuer issuer = issuer(context.getClient(), state, pool.getMetadata().getName());
        if (issuer == null) return "the key of pool " + pool.getMetadata().getName() + " is missing";
        Secret existing = context.getSecondaryResource(Secret.class).orElse(null);
        if (existing != null && !BindingSecret.ownedBy(existing, claim)) return foreignSecret(claim);
        var workflow = context.managedWorkflowAndDependentResourceContext();
        boolean filling = extents.stream().anyMatch(e -> e.replicas().stream().anyMatch(Binding.Replica::filling));
        String transport = Placement.bindingTransport(pool.getSpec(), nodesOf(extents).stream().map(nodes::get).toList(), filling);
        workflow.put(BindingSecretDependent.Inputs.class, new BindingSecretDependent.Inputs(transport,
                status.slabSizeBytes, status.epoch, extents, nodes, issuer, BindingSecret.lifetime(pool), System.currentTimeMillis()));
        WorkflowReconcileResult result = workflow.reconcileManagedWorkflow();
        for (Exception e : result.getErroredDependents().values()) {
            if (e instanceof IllegalStateException) return e.getMessage(); // a memory node has no endpoint yet
            // The name is taken by a Secret this claim does not own (the informer sees only the claims' own).
            if (e instanceof KubernetesClientException k && k.getCode() == 409 && k.getStatus() != null && "AlreadyExists".equals(k.getStatus().getReason())) {
                return foreignSecret(claim);
            }
            result.throwAggregateExceptionIfErrorsPresent();
        }
        return null;
    }

    private static String foreignSecret(FarMemoryClaim claim) {
        return "Secret " + BindingSecret.name(claim) + " exists and does not belong to this claim: delete or rename it";
    }

    /** Report: the status as aggregated, its Events, and the claim's metric. */
    private UpdateControl<FarMemoryClaim> report(FarMemoryClaim claim, ClaimStatusAggregator status, EventRecorder events,
                                                 UpdateControl<FarMemoryClaim> then) {
        status.write(events, false);
        metrics.claim(claim.getMetadata().getUid(), claim.getSpec().pool, status.status().phase);
        return then;
    }

    private static Step pending(ClaimStatusAggregator status, String reason, String message, boolean warn) {
        status.pending(reason, message, warn);
        return new Step(UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(RETRY_PENDING));
    }

    @Override
    public DeleteControl cleanup(FarMemoryClaim claim, Context<FarMemoryClaim> context) {
        String poolName = claim.getSpec().pool;
        FarMemoryPool pool = pools.get(new ResourceID(poolName)).orElse(null);
        if (pool != null) { // a pool that is gone took its allocator with it
            allocations.of(poolName, pool.getMetadata().getUid(), () -> context.getPrimaryCache().list().toList()).allocator().free(PoolAllocations.key(claim));
        }
        // The binding Secret goes now, not later with the garbage collector: no client should find it after the claim is gone.
        context.managedWorkflowAndDependentResourceContext().cleanupManageWorkflow().throwAggregateExceptionIfErrorsPresent();
        metrics.forgetClaim(claim.getMetadata().getUid());
        paces.remove(claim.getMetadata().getUid());
        LOG.info("claim {}/{} deleted: its slabs are free", claim.getMetadata().getNamespace(), claim.getMetadata().getName());
        return DeleteControl.defaultDelete();
    }

    /**
     * Whether a status write that failed reached the API server after all: a conflict never did;
     * for any other failure the claim is read again. Unknown counts as written, so a slab is never
     * freed while a status may name it (at worst it stays taken until the next restart).
     */
    private static boolean persisted(KubernetesClient client, FarMemoryClaim claim, FarMemoryClaimStatus written) {
        try {
            FarMemoryClaim now = client.resource(claim).get();
            return now != null && now.getStatus() != null && Objects.equals(now.getStatus().epoch, written.epoch);
        } catch (KubernetesClientException e) {
            return true;
        }
    }

    /** The pool's token issuer, from its key Secret the first time (null while the pool has no key of its own yet). */
    private TokenIssuer issuer(KubernetesClient client, PoolState state, String pool) {
        return state.issuer(client.secrets().inNamespace(namespace).withName(AgentObjects.keySecretName(pool)).get(), AgentObjects.KEY_FILE_NAME);
    }

    private static Set<String> nodesOf(List<Binding.Extent> extents) {
        return extents.stream().flatMap(e -> e.replicas().stream()).map(Binding.Replica::node).collect(Collectors.toSet());
    }
}
