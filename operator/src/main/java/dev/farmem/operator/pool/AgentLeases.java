package dev.farmem.operator.pool;

import dev.farmem.crds.FarMemoryPool;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The heartbeat Leases of a pool's memory nodes, one per memory node that is not Lost. Created
 * empty with the memory node, so that the agent only needs to patch it; never updated by the
 * operator (the agent renews it). The Lease of a memory node found Lost, or gone, is deleted.
 */
public class AgentLeases extends PerMemoryNode<Lease> {
    public static final String NAME = "agent-leases";

    public AgentLeases() {
        super(Lease.class);
    }

    @Override
    public Map<String, Lease> desiredResources(FarMemoryPool pool, Context<FarMemoryPool> context) {
        return PoolKeySecret.plan(context).leased().stream().collect(Collectors.toMap(m -> m.getMetadata().getName(), AgentObjects::lease));
    }
}
