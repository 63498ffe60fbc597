package dev.farmem.operator.pool;

import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.MemoryNode;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Deleter;
import io.javaoperatorsdk.operator.processing.dependent.BulkDependentResource;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.Matcher;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.SecondaryToPrimaryMapper;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * A bulk dependent resource of a pool with one object per memory node, named as the memory node:
 * created and deleted, never updated. Its objects are owned by their MemoryNode (so they go with
 * it), not by the pool, and are found by the pool label they carry.
 */
abstract class PerMemoryNode<R extends HasMetadata> extends KubernetesDependentResource<R, FarMemoryPool>
        implements BulkDependentResource<R, FarMemoryPool>, Creator<R, FarMemoryPool>, Deleter<FarMemoryPool>, SecondaryToPrimaryMapper<R> {

    PerMemoryNode(Class<R> type) {
        super(type);
    }

    @Override
    public Map<String, R> getSecondaryResources(FarMemoryPool pool, Context<FarMemoryPool> context) {
        return context.getSecondaryResourcesAsStream(resourceType()).collect(Collectors.toMap(o -> o.getMetadata().getName(), Function.identity()));
    }

    /**
     * An existing object is as wanted: never updated (JOSDK's bulk reconcile asks even a dependent
     * that is no Updater whether it matches, and would update it if not).
     */
    @Override
    public Matcher.Result<R> match(R actual, R desired, FarMemoryPool pool, Context<FarMemoryPool> context) {
        return Matcher.Result.computed(true, desired);
    }

    /** An object belongs to the pool its label names. */
    @Override
    public Set<ResourceID> toPrimaryResourceIDs(R object) {
        String pool = object.getMetadata().getLabels() == null ? null : object.getMetadata().getLabels().get(MemoryNode.POOL_LABEL);
        return pool == null ? Set.of() : Set.of(new ResourceID(pool));
    }

    /** The object carries its owner (its MemoryNode) and the pool label already ({@link AgentObjects}): nothing to add. */
    @Override
    protected void addReferenceHandlingMetadata(R desired, FarMemoryPool pool) {}
}
