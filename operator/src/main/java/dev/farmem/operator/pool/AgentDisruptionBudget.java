package dev.farmem.operator.pool;

import dev.farmem.crds.FarMemoryPool;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.GarbageCollected;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.Updater;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;

/**
 * The pool's PodDisruptionBudget over its agent pods ({@link AgentObjects#disruptionBudget}): the
 * eviction API (a drain, a cluster autoscaler) cannot take an agent whose memory node still holds
 * claim slabs; the operator moves the slabs, then marks the pod, which releases it. Its {@code minAvailable} follows
 * the number of agent pods it covers ({@link AgentPlan#guarded}), so it is updated whenever that changes; owned by the
 * pool, it goes with it.
 */
public class AgentDisruptionBudget extends KubernetesDependentResource<PodDisruptionBudget, FarMemoryPool>
        implements Creator<PodDisruptionBudget, FarMemoryPool>, Updater<PodDisruptionBudget, FarMemoryPool>, GarbageCollected<FarMemoryPool> {
    public static final String NAME = "agent-disruption-budget";

    public AgentDisruptionBudget() {
        super(PodDisruptionBudget.class);
    }

    @Override
    protected PodDisruptionBudget desired(FarMemoryPool pool, Context<FarMemoryPool> context) {
        AgentPlan plan = PoolKeySecret.plan(context);
        return AgentObjects.disruptionBudget(pool, plan.namespace(), plan.guarded());
    }

    /**
     * A patch of the spec, not an update: the disruption controller rewrites the budget's status whenever a pod it
     * covers changes, so an update carrying the cached resourceVersion mostly conflicted (and failed the reconcile).
     */
    @Override
    public PodDisruptionBudget update(PodDisruptionBudget actual, PodDisruptionBudget desired, FarMemoryPool pool, Context<FarMemoryPool> context) {
        return context.getClient().resource(actual).edit(b -> {
            b.setSpec(desired.getSpec());
            return b;
        });
    }
}
