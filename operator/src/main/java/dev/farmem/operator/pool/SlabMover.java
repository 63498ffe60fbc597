package dev.farmem.operator.pool;

import dev.farmem.crds.MemoryNode;
import io.fabric8.kubernetes.client.KubernetesClient;

/**
 * Moves every claim slab off a memory node that is leaving, with re-replication's "replace
 * replica" (a new replica on another node joins as a write target, the copy fills it from the
 * leaving one, then the leaving replica is dropped from the claim). The pool reconcile asks; the
 * claims' statuses record the result: the node is released once no claim holds a slab there.
 */
public interface SlabMover {

    /**
     * Starts (or goes on) moving the slabs of {@code leaving} away; called on every reconcile while
     * it holds some. Returns what the move is doing, in a user's words, for the MemoryNode's status.
     */
    String move(KubernetesClient client, MemoryNode leaving, Departures.Departure why);

    /**
     * The move off {@code moved} is over (it holds no slab and does not leave): whatever marks it as moving goes, so
     * it takes slabs again. Called on every reconcile that finds it so; idempotent.
     */
    void finish(KubernetesClient client, MemoryNode moved);
}
