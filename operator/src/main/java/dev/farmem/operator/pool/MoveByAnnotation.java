package dev.farmem.operator.pool;

import dev.farmem.crds.MemoryNode;
import dev.farmem.operator.allocation.MemoryNodes;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.util.HashMap;

/**
 * Moves a leaving node's slabs the one way re-replication offers: the annotation
 * {@link MemoryNodes#MOVE_ANNOTATION} on its MemoryNode, which the claim reconcile acts on (a new
 * replica elsewhere for every replica there, filled by an agent-to-agent copy, then the old one
 * dropped). Annotating is idempotent; the claims' statuses show the copy's progress. Once the node holds no slab and
 * stays (the move was asked for by hand, or its drain was undone), the annotation goes and it takes slabs again.
 */
public final class MoveByAnnotation implements SlabMover {

    @Override
    public String move(KubernetesClient client, MemoryNode leaving, Departures.Departure why) {
        if (!MemoryNodes.isMovingAway(leaving)) {
            try {
                client.resource(leaving).edit(m -> {
                    if (m.getMetadata().getAnnotations() == null) m.getMetadata().setAnnotations(new HashMap<>());
                    m.getMetadata().getAnnotations().put(MemoryNodes.MOVE_ANNOTATION, "true");
                    return m;
                });
            } catch (KubernetesClientException e) {
                if (e.getCode() != 404) throw e; // retired meanwhile: nothing to move
            }
        }
        return "moving its slabs to other nodes (re-replication: the claims' statuses show the bytes to go)";
    }

    @Override
    public void finish(KubernetesClient client, MemoryNode moved) {
        if (!MemoryNodes.isMovingAway(moved)) return;
        try {
            client.resource(moved).edit(m -> {
                if (m.getMetadata().getAnnotations() != null) m.getMetadata().getAnnotations().remove(MemoryNodes.MOVE_ANNOTATION);
                return m;
            });
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) throw e; // retired meanwhile
        }
    }
}
