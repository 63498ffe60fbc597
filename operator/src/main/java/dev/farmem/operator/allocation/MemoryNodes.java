package dev.farmem.operator.allocation;

import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * The one definition of what a memory node is to the pool and its claims: Ready, Lost, and
 * whether it accepts new slabs. The pool reconciler and the claim reconciler both decide with
 * these, with the memory nodes the pool's {@link PoolState} found Lost.
 */
public final class MemoryNodes {
    /**
     * The one way to move a memory node's slabs elsewhere (a drain, a scale-down, an upgrade): annotate its MemoryNode
     * {@code farmem.io/move-slabs: "true"}. It takes no new slabs, every claim replica on it gets a new replica on
     * another node, filled by an agent-to-agent copy from it, and is dropped once that copy is done; its slabs have
     * moved when no claim status names the node any more.
     */
    public static final String MOVE_ANNOTATION = "farmem.io/move-slabs";

    private MemoryNodes() {}

    public static boolean isReady(MemoryNode m) {
        return m != null && m.getStatus() != null && MemoryNodeStatus.READY.equals(m.getStatus().phase);
    }

    /**
     * Lost: its status says so, the operator found it Lost (the cache has not seen that patch
     * yet), or it no longer exists (its region went with it). Lost is final.
     */
    public static boolean isLost(MemoryNode m, Set<String> foundLost) {
        if (m == null) return true;
        return m.getStatus() != null && MemoryNodeStatus.LOST.equals(m.getStatus().phase) || foundLost.contains(m.getMetadata().getName());
    }

    /** Accepts new slabs: Ready, not Lost, not moving its slabs away and not leaving (draining). Others keep the slabs claims hold on them. */
    public static boolean acceptsSlabs(MemoryNode m, Set<String> foundLost) {
        return isReady(m) && !isLost(m, foundLost) && !isMovingAway(m) && m.getStatus().draining == null;
    }

    /** Its slabs are to move to other nodes ({@link #MOVE_ANNOTATION}). */
    public static boolean isMovingAway(MemoryNode m) {
        return m != null && m.getMetadata().getAnnotations() != null && "true".equals(m.getMetadata().getAnnotations().get(MOVE_ANNOTATION));
    }

    /** The memory nodes as the allocator sees them. */
    public static List<SlabAllocator.Node> allocatorNodes(Collection<MemoryNode> nodes, Set<String> foundLost) {
        List<SlabAllocator.Node> out = new ArrayList<>();
        for (MemoryNode m : nodes) {
            int slabs = (int) (m.getSpec().capacityBytes / m.getSpec().slabSizeBytes);
            out.add(new SlabAllocator.Node(m.getMetadata().getName(), m.getSpec().zone, slabs, acceptsSlabs(m, foundLost)));
        }
        return out;
    }
}
