package dev.farmem.operator.pool;

import dev.farmem.crds.FarMemoryPool;
import dev.farmem.operator.placement.Placement;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.Pod;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * The agent pods of a pool, one per memory node the {@link AgentPlan} gives an agent. Created and
 * deleted, never updated: a pod's spec cannot change, and an agent that must change is a new
 * memory node. A pod whose memory node is no longer planned (retired, Lost, or gone) is deleted;
 * on a node that is gone or not Ready no kubelet will confirm that, so it is removed at once.
 */
public class AgentPods extends PerMemoryNode<Pod> {
    public static final String NAME = "agent-pods";

    public AgentPods() {
        super(Pod.class);
    }

    @Override
    public Map<String, Pod> desiredResources(FarMemoryPool pool, Context<FarMemoryPool> context) {
        AgentPlan plan = PoolKeySecret.plan(context);
        return plan.agents().stream().collect(Collectors.toMap(a -> a.memoryNode().getMetadata().getName(),
                a -> AgentObjects.agentPod(pool, a.memoryNode(), a.node(), plan.serviceAccount(), plan.defaults())));
    }

    @Override
    public void deleteTargetResource(FarMemoryPool pool, Pod pod, String key, Context<FarMemoryPool> context) {
        Node node = context.getSecondaryResourcesAsStream(Node.class)
                .filter(n -> n.getMetadata().getName().equals(pod.getSpec().getNodeName())).findFirst().orElse(null);
        if (node == null || !Placement.isReady(node)) context.getClient().resource(pod).withGracePeriod(0).delete();
        else context.getClient().resource(pod).delete();
    }
}
