package dev.farmem.operator.pool;

import dev.farmem.crds.FarMemoryPool;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.GarbageCollected;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;

/**
 * The pool's token key Secret, {@code farmem-pool-<pool>-key} in the operator's namespace. Created
 * once and never updated (a Creator, not an Updater): agents and binding tokens use the key, so it
 * must never change while the pool lives. It is owned by the pool and goes with it (garbage
 * collected), so a pool recreated under the same name gets a new key.
 */
public class PoolKeySecret extends KubernetesDependentResource<Secret, FarMemoryPool>
        implements Creator<Secret, FarMemoryPool>, GarbageCollected<FarMemoryPool> {
    public static final String NAME = "pool-key-secret";

    public PoolKeySecret() {
        super(Secret.class);
    }

    @Override
    protected Secret desired(FarMemoryPool pool, Context<FarMemoryPool> context) {
        return AgentObjects.keySecret(pool, plan(context).namespace());
    }

    /** By name: desired() draws a fresh random key, which is needed only when the Secret is created. */
    @Override
    protected ResourceID targetSecondaryResourceID(FarMemoryPool pool, Context<FarMemoryPool> context) {
        return new ResourceID(AgentObjects.keySecretName(pool.getMetadata().getName()), plan(context).namespace());
    }

    static AgentPlan plan(Context<FarMemoryPool> context) {
        return context.managedWorkflowAndDependentResourceContext().getMandatory(AgentPlan.class, AgentPlan.class);
    }
}
