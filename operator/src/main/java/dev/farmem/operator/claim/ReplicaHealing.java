package dev.farmem.operator.claim;

import dev.farmem.common.Endpoint;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenLifetime;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.MemoryNode;
import dev.farmem.operator.allocation.PoolAllocations;
import dev.farmem.operator.allocation.SlabAllocator;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.BlockingWireClient;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.CopyState;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Restores a claim's replication, in three steps the claim reconciler calls in order ({@code place -> join ->
 * [binding written] -> fill}):
 * <ol>
 * <li>{@link #place}: every replica on a memory node that is {@code leaving} (Lost, or marked to move its slabs) gets
 *     a new replica on another node (the allocator's placement rules), recorded in the status as {@code filling} and
 *     {@code replaces} the leaving node, at a new epoch;</li>
 * <li>{@link #join}: the new replicas' slabs are attached with an operator-issued COPY token, which makes them joining
 *     slabs on their agent (tracked, not readable), before any binding names them;</li>
 * <li>{@link #fill}: after the binding Secret names them (clients now write to them too), every complete replica of
 *     the extent is fenced at the new epoch (clients on the old binding re-read it before their next write lands), and
 *     the new replica's agent is asked (COPY) to fill it from one of them; once it reports done, the replica is complete
 *     and the one it replaces is dropped.</li>
 * </ol>
 * The correctness argument is in docs/architecture.md, "Re-replication". The operator dials agents here, and only
 * here: a COPY is a request to one agent, answered with its progress at once.
 *
 * <p>Every token issued here lives the pool's {@code tokenTtlSeconds}, like the binding's: a copy token is no
 * longer-lived door into the claim's slabs than a client's. Each look issues fresh ones; the only token that lives as
 * long as a copy is the source token the destination agent connected with. A copy that outlives it is cut off by the
 * source agent ({@code TOKEN_EXPIRED}); {@link #fill} renews it at once, sending the COPY again with a fresh source
 * token, which restarts the copy where it stopped (chunks already filled are not read again), and reports no problem.
 *
 * <p>A drain, scale-down or upgrade moves a node's slabs with the same steps: call them with the node in
 * {@code leaving}; the node's replicas stay (and are the copy's source) until their replacements are complete.
 */
final class ReplicaHealing {

    static final Duration AGENT_TIMEOUT = Duration.ofSeconds(10);

    /** What the copies of one claim report: bytes filled and to go, and what stops them (empty when nothing does). */
    record Progress(int filling, long copied, long toGo, List<String> problems) {}

    private ReplicaHealing() {}

    /** Whether the replica is being filled (has none of the claim's data it does not get from a copy or a client write). */
    static boolean filling(FarMemoryClaimStatus.Replica r) {
        return Boolean.TRUE.equals(r.filling);
    }

    /**
     * Places a replacement for every replica on a leaving node that has none yet, and drops replacements whose own
     * node is lost (placed again next time). Changes {@code status} and the allocator; returns the failures to place
     * (the claim stays Degraded with them). The caller records the status at a new epoch when {@code changed} says so.
     */
    static boolean place(String key, FarMemoryClaimStatus status, SlabAllocator allocator, Set<String> leaving, Set<String> lost, List<String> failures) {
        boolean changed = false;
        for (FarMemoryClaimStatus.Extent e : status.extents) {
            if (e.replicas.removeIf(r -> filling(r) && lost.contains(r.node))) changed = true;
        }
        if (changed) allocator.setExtents(key, PoolAllocations.extentsOf(status));
        for (FarMemoryClaimStatus.Extent e : status.extents) {
            if (e.replicas.stream().noneMatch(r -> !filling(r) && !lost.contains(r.node))) continue; // nothing left to copy from
            for (FarMemoryClaimStatus.Replica r : List.copyOf(e.replicas)) {
                if (filling(r) || !leaving.contains(r.node)) continue;
                if (e.replicas.stream().anyMatch(f -> filling(f) && r.node.equals(f.replaces))) continue;
                SlabAllocator.Placed p = allocator.placeReplica(key, e.firstSlab);
                if (!p.ok()) {
                    failures.add("no new replica for claim slabs from " + e.firstSlab + " (on " + r.node + "): " + p.failure());
                    continue;
                }
                FarMemoryClaimStatus.Replica added = new FarMemoryClaimStatus.Replica(p.replica().node(), p.replica().firstSlab());
                added.filling = true;
                added.replaces = r.node;
                e.replicas.add(added);
                changed = true;
            }
        }
        return changed;
    }

    /**
     * Attaches every filling replica's slabs with a COPY token at the status's epoch (the join). Idempotent. Returns
     * the failures; the binding must not name the new replicas until this returned none.
     */
    static List<String> join(String claimUid, FarMemoryClaimStatus status, Map<String, MemoryNode> nodes, TokenIssuer issuer, TokenLifetime lifetime) {
        List<String> failures = new ArrayList<>();
        for (FarMemoryClaimStatus.Extent e : status.extents) {
            for (FarMemoryClaimStatus.Replica f : e.replicas) {
                if (!filling(f)) continue;
                try (BlockingWireClient c = BlockingWireClient.connect(endpoint(f.node, nodes), token(issuer, f, e, nodes, claimUid, status.epoch, Rights.COPY,
                        lifetime), AGENT_TIMEOUT)) {
                    // Joined: the agent tracks the lines clients write from now on.
                } catch (TransportException | IllegalStateException ex) {
                    failures.add("new replica on " + f.node + " cannot join: " + ex.getMessage());
                }
            }
        }
        return failures;
    }

    /**
     * Fences the complete replicas of every extent with a filling one, asks the filling replica's agent to fill it from
     * one of them (COPY), and marks it complete when the agent says so, dropping the replica it replaces. Call only once
     * the binding Secret names the filling replicas. Returns the progress; {@code completed} gets the replicas made
     * complete (the caller records the status).
     */
    static Progress fill(String claimUid, FarMemoryClaimStatus status, Map<String, MemoryNode> nodes, Set<String> lost, TokenIssuer issuer,
                         TokenLifetime lifetime, List<FarMemoryClaimStatus.Replica> completed) {
        int filling = 0;
        long copied = 0;
        long toGo = 0;
        List<String> problems = new ArrayList<>();
        for (FarMemoryClaimStatus.Extent e : status.extents) {
            List<FarMemoryClaimStatus.Replica> sources = e.replicas.stream().filter(r -> !filling(r) && !lost.contains(r.node)).toList();
            for (FarMemoryClaimStatus.Replica f : List.copyOf(e.replicas)) {
                if (!filling(f) || sources.isEmpty()) continue;
                filling++;
                try {
                    // Every complete replica at the new epoch: a client still on the old binding is refused there before its
                    // next write lands, re-reads the binding, and writes to the new replica too.
                    for (FarMemoryClaimStatus.Replica s : sources) {
                        try (BlockingWireClient ignored = BlockingWireClient.connect(endpoint(s.node, nodes),
                                token(issuer, s, e, nodes, claimUid, status.epoch, Rights.READ, lifetime), AGENT_TIMEOUT)) {
                            // Fenced.
                        }
                    }
                    // A moving replica is the natural source; else the first complete one.
                    FarMemoryClaimStatus.Replica source = sources.stream().filter(s -> s.node.equals(f.replaces)).findFirst().orElse(sources.get(0));
                    CopyOk p;
                    try (BlockingWireClient c = BlockingWireClient.connect(endpoint(f.node, nodes), token(issuer, f, e, nodes, claimUid, status.epoch, Rights.COPY,
                            lifetime), AGENT_TIMEOUT)) {
                        p = c.copy(f.firstSlab, source.firstSlab, e.count, endpoint(source.node, nodes),
                                token(issuer, source, e, nodes, claimUid, status.epoch, Rights.READ, lifetime));
                        if (sourceTokenExpired(p)) {
                            // Renewal: the copy outlived its source token; the same COPY with a fresh one resumes it.
                            p = c.copy(f.firstSlab, source.firstSlab, e.count, endpoint(source.node, nodes),
                                    token(issuer, source, e, nodes, claimUid, status.epoch, Rights.READ, lifetime));
                        }
                    }
                    copied += p.bytesCopied();
                    toGo += p.bytesToGo();
                    if (p.state() == CopyState.DONE) {
                        f.filling = null;
                        if (f.replaces != null) e.replicas.removeIf(r -> r.node.equals(f.replaces));
                        f.replaces = null;
                        completed.add(f);
                    } else if (p.state() == CopyState.FAILED) {
                        problems.add("copy to " + f.node + ": " + p.message());
                    }
                } catch (TransportException | IllegalStateException ex) {
                    problems.add("copy to " + f.node + " from the replicas of claim slabs " + e.firstSlab + "..: " + ex.getMessage());
                }
            }
        }
        return new Progress(filling, copied, toGo, problems);
    }

    /** The copy stopped because the source agent ended its connection at the source token's expiry. */
    static boolean sourceTokenExpired(CopyOk p) {
        return p.state() == CopyState.FAILED && p.message() != null && p.message().contains(ErrorCode.TOKEN_EXPIRED.name());
    }

    private static Endpoint endpoint(String node, Map<String, MemoryNode> nodes) {
        MemoryNode m = nodes.get(node);
        if (m == null || m.getStatus() == null || m.getStatus().endpoint == null) throw new IllegalStateException("memory node " + node + " has no endpoint yet");
        return Endpoint.parse(m.getStatus().endpoint);
    }

    private static String token(TokenIssuer issuer, FarMemoryClaimStatus.Replica r, FarMemoryClaimStatus.Extent e, Map<String, MemoryNode> nodes,
                                String claimUid, long epoch, Rights rights, TokenLifetime lifetime) {
        return issuer.issue(new CapabilityToken(r.node, BindingSecret.incarnationOf(r.node, nodes.get(r.node)), claimUid, epoch,
                List.of(new SlabRange(r.firstSlab, e.count)), rights, lifetime.expiresAt(System.currentTimeMillis())));
    }
}
