package dev.farmem.operator.claim;

import dev.farmem.common.ByteSize;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.operator.status.Conditions;
import dev.farmem.operator.status.EventRecorder;
import dev.farmem.operator.status.StatusWriter;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.util.Collection;
import java.util.List;

/**
 * The one place a claim's status is decided (as Keycloak's status aggregator): the reconcile says
 * which phase the claim is in and why, and {@link #write} sets the phase, reason and message, the
 * conditions Bound and Degraded with the generation they describe, patches the status only when it
 * changed, and records an Event when the claim enters a phase for a new reason the user should see.
 * Every other field of the status (the extents, the epoch) is kept as it was read, or as
 * {@link #bound} recorded it.
 */
final class ClaimStatusAggregator {
    private final KubernetesClient client;
    private final FarMemoryClaim claim;
    private final FarMemoryClaimStatus status;
    private final long generation;
    private String warning;

    ClaimStatusAggregator(KubernetesClient client, FarMemoryClaim claim) {
        this.client = client;
        this.claim = claim;
        this.status = StatusWriter.workingCopy(client, claim.getStatus(), FarMemoryClaimStatus::new);
        this.generation = claim.getMetadata().getGeneration();
        status.observedGeneration = generation;
        status.size = ByteSize.quantity(claim.getSpec().sizeBytes);
    }

    /** The status as it stands (the recorded extents and epoch are read from it). */
    FarMemoryClaimStatus status() {
        return status;
    }

    /** Not bound, for {@code reason}; with {@code warn}, the user must fix the claim, which a Warning Event says. */
    void pending(String reason, String message, boolean warn) {
        phase(FarMemoryClaimStatus.PENDING, reason, message);
        Conditions.set(status.conditions, Conditions.BOUND, false, reason, message, generation);
        if (warn) warning = reason;
    }

    /** Its memory is gone: the claim can only be deleted. Always with a Warning Event. */
    void released(String reason, String message) {
        phase(FarMemoryClaimStatus.RELEASED, reason, message);
        Conditions.set(status.conditions, Conditions.BOUND, false, reason, message, generation);
        warning = reason;
    }

    /** The allocation decided now: slab size, a fresh epoch and the extents, the record of who holds which slab. */
    void bound(long slabSize, long epoch, String bindingSecret, List<FarMemoryClaimStatus.Extent> extents, String message) {
        phase(FarMemoryClaimStatus.BOUND, null, null);
        status.slabSizeBytes = slabSize;
        status.epoch = epoch;
        status.bindingSecret = bindingSecret;
        status.extents = extents;
        Conditions.set(status.conditions, Conditions.BOUND, true, "Allocated", message, generation);
    }

    /**
     * Bound and serving: which replicas are on lost memory nodes, the binding Secret's problem (null when written), the
     * copies filling new replicas (null when none runs) and why replicas could not be replaced. Degraded until every
     * slab has its replicas again, with the copies' progress in {@code bytesCopied} and {@code bytesToGo}.
     */
    void serving(Collection<String> lostReplicaNodes, String bindingProblem, ReplicaHealing.Progress copies, List<String> healFailures) {
        boolean filling = status.extents != null && status.extents.stream().anyMatch(e -> e.replicas.stream().anyMatch(ReplicaHealing::filling));
        status.bytesCopied = copies == null || !filling ? null : copies.copied();
        status.bytesToGo = copies == null || !filling ? null : copies.toGo();
        List<String> lost = lostReplicaNodes.stream().sorted().toList();
        String reason;
        String message;
        if (filling) {
            reason = "Rereplicating";
            message = "new replicas are being filled by agent-to-agent copies" + (copies == null ? "" : ": " + copies.copied() + " bytes copied, "
                    + copies.toGo() + " to go") + (lost.isEmpty() ? "" : "; lost: " + String.join(", ", lost))
                    + (copies == null || copies.problems().isEmpty() ? "" : "; " + String.join("; ", copies.problems()));
        } else if (!lost.isEmpty()) {
            reason = "ReplicasLost";
            message = "replicas on lost memory nodes: " + String.join(", ", lost) + "; the claim works on the others";
        } else {
            reason = "AsExpected";
            message = "every replica is on a live memory node";
        }
        if (!healFailures.isEmpty()) message += "; " + String.join("; ", healFailures);
        Conditions.set(status.conditions, Conditions.DEGRADED, filling || !lost.isEmpty(), reason, message, generation);
        phase(FarMemoryClaimStatus.BOUND, bindingProblem == null ? null : "BindingNotWritten", bindingProblem);
    }

    /**
     * Patches the status if it changed. With {@code locked} the patch carries the resourceVersion
     * (a decision is recorded: it must not overwrite a newer status). A Warning Event goes with a
     * phase entered for a reason the claim did not show yet.
     */
    void write(EventRecorder events, boolean locked) {
        boolean isNew = warning != null && !warning.equals(claim.getStatus() == null ? null : claim.getStatus().reason);
        StatusWriter.patchIfChanged(client, claim, status, locked);
        if (isNew) events.warning(claim, status.reason, status.message);
    }

    private void phase(String phase, String reason, String message) {
        status.phase = phase;
        status.reason = reason;
        status.message = message;
    }
}
