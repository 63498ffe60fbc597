package dev.farmem.operator.pool;

import dev.farmem.common.ByteSize;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.FarMemoryPoolStatus;
import dev.farmem.operator.status.Conditions;
import dev.farmem.operator.status.EventRecorder;
import dev.farmem.operator.status.StatusWriter;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.ArrayList;
import java.util.List;

/**
 * The one place a pool's status is decided (as Keycloak's status aggregator): the steps of a
 * reconcile report what they saw, and {@link #write} turns it into the counts, the conditions
 * Ready, Progressing and Degraded with the generation they describe, patches the status only
 * when it changed, and records a Warning Event when the user must act for a new reason.
 *
 * <pre>
 * PoolStatusAggregator status = new PoolStatusAggregator(client, pool);
 * status.nodes(desired, wanted, chosen, ready, lost, bytesTotal, bytesAllocated);
 * status.problem("NodesLost", "memory nodes lost: ...");       // Degraded, the first reason wins
 * status.userMustAct("AgentServiceAccountMissing", "...");    // Ready and Progressing False, Degraded True
 * status.write(events);
 * </pre>
 */
public final class PoolStatusAggregator {
    private final KubernetesClient client;
    private final FarMemoryPool pool;
    private final FarMemoryPoolStatus status;
    private final long generation;
    private final List<String> problems = new ArrayList<>();
    private String problemReason;
    private boolean observed;
    private String actReason;
    private String actMessage;

    public PoolStatusAggregator(KubernetesClient client, FarMemoryPool pool) {
        this.client = client;
        this.pool = pool;
        this.status = StatusWriter.workingCopy(client, pool.getStatus(), FarMemoryPoolStatus::new);
        this.generation = pool.getMetadata().getGeneration();
    }

    /**
     * What the pool has: {@code desired} agents planned (at least {@code wanted} must be ready to
     * be Ready), {@code chosen} nodes that got one, {@code ready} memory nodes that accept slabs,
     * {@code lost} ones, and the bytes of the ready ones. {@code draining}: memory nodes that wait
     * for claims to release their slabs before they retire.
     */
    public void nodes(int desired, int wanted, int chosen, int ready, int lost, long bytesTotal, long bytesAllocated, List<String> draining) {
        observed = true;
        status.nodesDesired = desired;
        status.nodesReady = ready;
        status.nodesLost = lost;
        status.bytesTotal = bytesTotal;
        status.bytesAllocated = bytesAllocated;
        status.bytesFree = bytesTotal - bytesAllocated;
        status.readyNodes = ready + "/" + desired;
        status.capacity = ByteSize.quantity(bytesTotal);
        status.allocated = ByteSize.quantity(bytesAllocated);

        boolean isReady = ready >= wanted;
        Conditions.set(status.conditions, Conditions.READY, isReady, isReady ? "NodesReady" : "NodesNotReady",
                ready + " of " + wanted + " memory nodes are ready", generation);
        boolean progressing = ready < chosen || !draining.isEmpty();
        String progress = !draining.isEmpty()
                ? "waiting for claims to release slabs on " + String.join(", ", draining) + " before retiring them"
                : progressing ? "starting agents: " + (chosen - ready) + " not ready yet" : "every chosen node runs a ready agent";
        Conditions.set(status.conditions, Conditions.PROGRESSING, progressing, progressing ? "PlacingAgents" : "Stable", progress, generation);
    }

    /** Something is wrong that the pool works around: Degraded, with every problem's message and the first one's reason. */
    public void problem(String reason, String message) {
        if (problemReason == null) problemReason = reason;
        problems.add(message);
    }

    /**
     * Nothing more happens until the user acts (an invalid spec, agent pods the API server
     * refuses): not Ready, not progressing, Degraded with the fix, and a Warning Event.
     */
    public void userMustAct(String reason, String message) {
        actReason = reason;
        actMessage = message;
    }

    /** The conditions of a pool that waits for the user: not Ready, not progressing, Degraded, each saying why. */
    static void userMustAct(FarMemoryPoolStatus status, String reason, String message, long generation) {
        Conditions.set(status.conditions, Conditions.READY, false, reason, message, generation);
        Conditions.set(status.conditions, Conditions.PROGRESSING, false, reason, message, generation);
        Conditions.set(status.conditions, Conditions.DEGRADED, true, reason, message, generation);
    }

    /** Deletion waits for bound claims: not Ready, saying which. */
    public void deleting(String why) {
        Conditions.set(status.conditions, Conditions.READY, false, "Deleting", why, generation);
    }

    /** The status as aggregated, with the generation it describes. */
    public FarMemoryPoolStatus build() {
        if (actReason != null) {
            userMustAct(status, actReason, actMessage, generation);
        } else if (observed) {
            Conditions.set(status.conditions, Conditions.DEGRADED, !problems.isEmpty(), problemReason == null ? "AsExpected" : problemReason,
                    problems.isEmpty() ? "no memory node lost" : String.join("; ", problems), generation);
        }
        status.observedGeneration = generation;
        return status;
    }

    /** Patches the status if it changed; a Warning Event when the user must act for a reason the pool did not show yet. */
    public FarMemoryPoolStatus write(EventRecorder events) {
        boolean isNew = actReason != null && !actReason.equals(reasonBefore(Conditions.DEGRADED));
        FarMemoryPoolStatus built = build();
        StatusWriter.patchIfChanged(client, pool, built, false);
        if (isNew) events.warning(pool, actReason, actMessage);
        return built;
    }

    private String reasonBefore(String type) {
        var c = pool.getStatus() == null ? null : Conditions.find(pool.getStatus().conditions, type);
        return c == null ? null : c.getReason();
    }
}
