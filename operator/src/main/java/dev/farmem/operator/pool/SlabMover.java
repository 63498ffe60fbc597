package dev.farmem.operator.pool;

import dev.farmem.crds.MemoryNode;

/**
 * Moves every claim slab off a memory node that is leaving, with re-replication's "replace
 * replica" (a new replica on another node joins as a write target, the copy fills it from a
 * surviving one, then the leaving replica is dropped from the claim). The pool reconcile asks;
 * the claims' statuses record the result: the node is released once no claim holds a slab there.
 */
public interface SlabMover {

    /**
     * Starts (or goes on) moving the slabs of {@code leaving} away; called on every reconcile while
     * it holds some. Returns what the move is doing or waits for, in a user's words, for the
     * MemoryNode's status.
     */
    String move(MemoryNode leaving, Departures.Departure why);

    /**
     * Until re-replication is built (issue 16), slabs do not move: a leaving node keeps its agent,
     * protected by the pool's disruption budget, until its claims are deleted.
     */
    SlabMover NOT_BUILT = (leaving, why) -> "waiting for its claims to be deleted: moving slabs needs re-replication, not in this build yet";
}
