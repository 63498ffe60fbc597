package dev.farmem.operator.pool;

import dev.farmem.crds.MemoryNode;
import io.fabric8.kubernetes.api.model.Node;
import java.util.List;

/**
 * What one pool reconcile decided about the objects its dependent resources make, handed to them
 * through the reconcile's context: the operator's namespace and agent settings, the memory nodes
 * that keep a Lease (every one not Lost), and those that run an agent pod (not Lost, and chosen
 * or still holding claim slabs), each with the Kubernetes node it is pinned to; and how many of those agents the
 * disruption budget guards (their pods are not marked {@link AgentObjects#SLABS_MOVED_LABEL}: {@link DrainPlan#guarded}).
 */
public record AgentPlan(String namespace, String serviceAccount, AgentDefaults defaults, List<MemoryNode> leased, List<Agent> agents,
                        int guarded) {

    /** A memory node that runs an agent pod, on {@code node} (null when the node is gone). */
    public record Agent(MemoryNode memoryNode, Node node) {}

    public AgentPlan {
        leased = List.copyOf(leased);
        agents = List.copyOf(agents);
    }
}
