package dev.farmem.operator.claim;

import dev.farmem.common.ByteSize;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.MemoryNode;
import dev.farmem.operator.allocation.MemoryNodes;
import dev.farmem.operator.allocation.PoolAllocations;
import dev.farmem.operator.allocation.PoolState;
import dev.farmem.operator.allocation.SlabAllocator;
import dev.farmem.operator.metrics.OperatorMetrics;
import dev.farmem.operator.pool.AgentObjects;
import dev.farmem.operator.pool.PoolReconciler;
import dev.farmem.operator.status.Conditions;
import dev.farmem.operator.status.EventRecorder;
import dev.farmem.operator.status.StatusWriter;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.TokenIssuer;
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
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.EventSource;
import io.javaoperatorsdk.operator.processing.event.source.informer.InformerEventSource;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Binds a FarMemoryClaim: validate against its pool, allocate slabs, record them in the status
 * (the only record), then write the binding Secret. A claim that cannot be bound stays Pending
 * with the reason. Deleting a claim frees its slabs.
 */
@ControllerConfiguration(name = ClaimReconciler.NAME)
public class ClaimReconciler implements Reconciler<FarMemoryClaim>, Cleaner<FarMemoryClaim> {
    public static final String NAME = "farmemoryclaim";
    private static final Logger LOG = LoggerFactory.getLogger(ClaimReconciler.class);
    static final Duration RETRY_PENDING = Duration.ofSeconds(5);
    static final Duration RESYNC_BOUND = Duration.ofSeconds(60);

    private final String namespace;
    private final PoolAllocations allocations;
    private final OperatorMetrics metrics;
    private InformerEventSource<MemoryNode, FarMemoryClaim> memoryNodes;
    private InformerEventSource<FarMemoryPool, FarMemoryClaim> pools;

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

    @Override
    public UpdateControl<FarMemoryClaim> reconcile(FarMemoryClaim claim, Context<FarMemoryClaim> context) {
        KubernetesClient client = context.getClient();
        FarMemoryClaimStatus status = copyOf(claim.getStatus());
        long generation = claim.getMetadata().getGeneration();
        status.observedGeneration = generation;
        status.size = ByteSize.quantity(claim.getSpec().sizeBytes);
        String poolName = claim.getSpec().pool;
        FarMemoryPool pool = pools.get(new ResourceID(poolName)).orElse(null);
        boolean bound = !PoolAllocations.extentsOf(claim.getStatus()).isEmpty();

        if (pool == null) {
            if (bound) return released(client, claim, status, "PoolDeleted", "pool " + poolName + " no longer exists: the memory of this claim is gone; delete the claim");
            return pending(client, context, claim, status, "PoolNotFound", "pool " + poolName + " does not exist: create it or fix spec.pool", false);
        }
        PoolState state = allocations.of(poolName, pool.getMetadata().getUid(), () -> context.getPrimaryCache().list().toList());
        SlabAllocator allocator = state.allocator();
        Map<String, MemoryNode> nodes = memoryNodes.list(m -> m.getSpec() != null && poolName.equals(m.getSpec().pool))
                .collect(Collectors.toMap(m -> m.getMetadata().getName(), Function.identity()));

        if (!bound) {
            if (pool.getMetadata().getDeletionTimestamp() != null) {
                return pending(client, context, claim, status, "PoolDeleting", "pool " + poolName + " is being deleted", false);
            }
            long slab = pool.getSpec().slabSizeBytes;
            if (claim.getSpec().sizeBytes % slab != 0) {
                return pending(client, context, claim, status, "InvalidSize", "sizeBytes " + claim.getSpec().sizeBytes
                        + " is not a multiple of the slab size " + slab + " of pool " + poolName + ": use a multiple of " + slab, true);
            }
            TokenIssuer issuer = issuer(client, state, poolName);
            if (issuer == null) return pending(client, context, claim, status, "WaitingForPool", "pool " + poolName + " has no token key yet", false);
            if (allocator.extentsOf(PoolAllocations.key(claim)).isPresent()) {
                // Bound by an earlier reconcile whose status write the cache has not delivered yet.
                return UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(Duration.ofSeconds(1));
            }
            allocator.setNodes(MemoryNodes.allocatorNodes(nodes.values(), state.foundLost()));
            SlabAllocator.Allocation a = allocator.allocate(PoolAllocations.key(claim), claim.getSpec().sizeBytes / slab, claim.getSpec().replication);
            if (!a.ok()) return pending(client, context, claim, status, "InsufficientCapacity", a.failure(), false);

            status.phase = FarMemoryClaimStatus.BOUND;
            status.reason = null;
            status.message = null;
            status.slabSizeBytes = slab;
            status.epoch = state.nextEpoch();
            status.bindingSecret = BindingSecret.name(claim);
            status.extents = PoolAllocations.toStatus(a.extents());
            Conditions.set(status.conditions, Conditions.BOUND, true, "Allocated",
                    a.extents().size() + " extent(s) on " + nodesOf(a.extents()).size() + " memory node(s)", generation);
            try {
                // Locked: the status is the record of these slabs, written before anyone is told about them.
                StatusWriter.patchIfChanged(client, claim, status, true);
            } catch (KubernetesClientException e) {
                if (e.getCode() == 409 || !persisted(client, claim, status)) allocator.free(PoolAllocations.key(claim));
                throw e;
            }
            LOG.info("claim {}/{} bound: {} slabs x{} in {} extents", claim.getMetadata().getNamespace(), claim.getMetadata().getName(),
                    claim.getSpec().sizeBytes / slab, claim.getSpec().replication, a.extents().size());
            new EventRecorder(client).normal(claim, "Bound", "bound to " + nodesOf(a.extents()).size() + " memory node(s) of pool " + poolName);
        }

        // Bound: keep the binding Secret in step with the memory nodes (an endpoint may move) and report lost replicas.
        List<Binding.Extent> extents = PoolAllocations.extentsOf(status);
        Set<String> foundLost = state.foundLost();
        Set<String> lost = nodesOf(extents).stream().filter(n -> MemoryNodes.isLost(nodes.get(n), foundLost)).collect(Collectors.toSet());
        List<Long> gone = extents.stream().filter(e -> e.replicas().stream().allMatch(r -> lost.contains(r.node()))).map(Binding.Extent::firstSlab).toList();
        if (!gone.isEmpty()) {
            return released(client, claim, status, "DataLost", "every replica of claim slabs starting at " + gone
                    + " was on a lost memory node (" + String.join(", ", lost) + "): the data is gone; delete and recreate the claim");
        }
        String problem = writeBinding(client, claim, pool, state, status, extents, nodes);
        Conditions.set(status.conditions, Conditions.DEGRADED, !lost.isEmpty(), lost.isEmpty() ? "AsExpected" : "ReplicasLost",
                lost.isEmpty() ? "every replica is on a live memory node" : "replicas on lost memory nodes: " + String.join(", ", lost.stream().sorted().toList())
                        + "; the claim works on the others", generation);
        status.phase = FarMemoryClaimStatus.BOUND;
        status.reason = problem == null ? null : "BindingNotWritten";
        status.message = problem;
        StatusWriter.patchIfChanged(client, claim, status, false);
        metrics.claim(claim.getMetadata().getUid(), poolName, status.phase);
        return UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(problem == null ? RESYNC_BOUND : RETRY_PENDING);
    }

    @Override
    public DeleteControl cleanup(FarMemoryClaim claim, Context<FarMemoryClaim> context) {
        String poolName = claim.getSpec().pool;
        FarMemoryPool pool = pools.get(new ResourceID(poolName)).orElse(null);
        if (pool != null) { // a pool that is gone took its allocator with it
            allocations.of(poolName, pool.getMetadata().getUid(), () -> context.getPrimaryCache().list().toList()).allocator().free(PoolAllocations.key(claim));
        }
        try {
            context.getClient().secrets().inNamespace(claim.getMetadata().getNamespace()).withName(BindingSecret.name(claim)).delete();
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) throw e;
        }
        metrics.forgetClaim(claim.getMetadata().getUid());
        LOG.info("claim {}/{} deleted: its slabs are free", claim.getMetadata().getNamespace(), claim.getMetadata().getName());
        return DeleteControl.defaultDelete();
    }

    /** Writes the binding Secret when it is missing, stale or its tokens are past half-life; returns a problem or null. */
    private String writeBinding(KubernetesClient client, FarMemoryClaim claim, FarMemoryPool pool, PoolState state, FarMemoryClaimStatus status,
                                List<Binding.Extent> extents, Map<String, MemoryNode> nodes) {
        TokenIssuer issuer = issuer(client, state, pool.getMetadata().getName());
        if (issuer == null) return "the key of pool " + pool.getMetadata().getName() + " is missing";
        Secret existing = client.secrets().inNamespace(claim.getMetadata().getNamespace()).withName(BindingSecret.name(claim)).get();
        if (existing != null && (existing.getMetadata().getOwnerReferences() == null || existing.getMetadata().getOwnerReferences().stream()
                .noneMatch(o -> claim.getMetadata().getUid().equals(o.getUid())))) {
            return "Secret " + BindingSecret.name(claim) + " exists and does not belong to this claim: delete or rename it";
        }
        long expires = Instant.now().plus(BindingSecret.TOKEN_LIFETIME).toEpochMilli();
        Binding wanted;
        try {
            wanted = BindingSecret.binding(claim, "rdma".equals(pool.getSpec().transport) ? "rdma" : "tcp", status.slabSizeBytes, status.epoch,
                    extents, nodes, issuer, expires);
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
        Binding current = BindingSecret.read(existing);
        if (BindingSecret.sameExceptTokens(current, wanted) && !halfLifePassed(existing)) return null;
        Secret secret = BindingSecret.secret(claim, wanted, expires);
        if (existing == null) client.resource(secret).create();
        else client.resource(secret).update();
        return null;
    }

    /**
     * Whether a status write that failed reached the API server after all: a conflict never did;
     * for any other failure the claim is read again. Unknown counts as written, so a slab is never
     * freed while a status may name it (at worst it stays taken until the next restart).
     */
    private static boolean persisted(KubernetesClient client, FarMemoryClaim claim, FarMemoryClaimStatus written) {
        try {
            FarMemoryClaim now = client.resource(claim).get();
            return now != null && now.getStatus() != null && java.util.Objects.equals(now.getStatus().epoch, written.epoch);
        } catch (KubernetesClientException e) {
            return true;
        }
    }

    private static boolean halfLifePassed(Secret s) {
        String at = s.getMetadata().getAnnotations() == null ? null : s.getMetadata().getAnnotations().get(BindingSecret.EXPIRES_ANNOTATION);
        if (at == null) return true;
        return Instant.parse(at).minus(BindingSecret.TOKEN_LIFETIME.dividedBy(2)).isBefore(Instant.now());
    }

    /** The pool's token issuer, from its key Secret the first time (null while the pool has no key of its own yet). */
    private TokenIssuer issuer(KubernetesClient client, PoolState state, String pool) {
        return state.issuer(client.secrets().inNamespace(namespace).withName(AgentObjects.keySecretName(pool)).get(), AgentObjects.KEY_FILE_NAME);
    }

    private UpdateControl<FarMemoryClaim> pending(KubernetesClient client, Context<FarMemoryClaim> context, FarMemoryClaim claim,
                                                  FarMemoryClaimStatus status, String reason, String message, boolean warn) {
        boolean isNew = !reason.equals(claim.getStatus() == null ? null : claim.getStatus().reason);
        status.phase = FarMemoryClaimStatus.PENDING;
        status.reason = reason;
        status.message = message;
        Conditions.set(status.conditions, Conditions.BOUND, false, reason, message, claim.getMetadata().getGeneration());
        StatusWriter.patchIfChanged(client, claim, status, false);
        if (isNew && warn) new EventRecorder(client).warning(claim, reason, message);
        metrics.claim(claim.getMetadata().getUid(), claim.getSpec().pool, status.phase);
        return UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(RETRY_PENDING);
    }

    private UpdateControl<FarMemoryClaim> released(KubernetesClient client, FarMemoryClaim claim, FarMemoryClaimStatus status, String reason,
                                                   String message) {
        boolean isNew = !reason.equals(claim.getStatus() == null ? null : claim.getStatus().reason);
        status.phase = FarMemoryClaimStatus.RELEASED;
        status.reason = reason;
        status.message = message;
        Conditions.set(status.conditions, Conditions.BOUND, false, reason, message, claim.getMetadata().getGeneration());
        StatusWriter.patchIfChanged(client, claim, status, false);
        if (isNew) new EventRecorder(client).warning(claim, reason, message);
        metrics.claim(claim.getMetadata().getUid(), claim.getSpec().pool, status.phase);
        return UpdateControl.<FarMemoryClaim>noUpdate().rescheduleAfter(RESYNC_BOUND);
    }

    private static Set<String> nodesOf(List<Binding.Extent> extents) {
        return extents.stream().flatMap(e -> e.replicas().stream()).map(Binding.Replica::node).collect(Collectors.toSet());
    }

    private static FarMemoryClaimStatus copyOf(FarMemoryClaimStatus s) {
        FarMemoryClaimStatus c = new FarMemoryClaimStatus();
        if (s == null) return c;
        c.observedGeneration = s.observedGeneration;
        c.phase = s.phase;
        c.reason = s.reason;
        c.message = s.message;
        c.conditions = new ArrayList<>(s.conditions == null ? List.of() : s.conditions);
        c.size = s.size;
        c.slabSizeBytes = s.slabSizeBytes;
        c.epoch = s.epoch;
        c.bindingSecret = s.bindingSecret;
        c.extents = s.extents;
        return c;
    }
}
