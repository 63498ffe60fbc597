package dev.farmem.common.token;

import java.util.List;
import java.util.Objects;

/**
 * What a verified token grants: on memory node {@code node} as served by agent process
 * {@code incarnation} (see {@link Incarnation}), to the runtime attached to claim
 * {@code claimUid} at attach epoch {@code epoch}, the slabs {@code slabs} with {@code rights},
 * until {@code expiresAtMillis} (Unix epoch milliseconds).
 *
 * <p>Epochs are issued from one increasing counter per pool (not per claim): a later attach,
 * of the same claim or of a new claim that gets slabs a deleted one had, always carries a
 * larger epoch, which is what lets a node fence the earlier holder.
 */
public record CapabilityToken(String node, long incarnation, String claimUid, long epoch, List<SlabRange> slabs, Rights rights, long expiresAtMillis) {

    public CapabilityToken {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(claimUid, "claimUid");
        Objects.requireNonNull(rights, "rights");
        if (node.isEmpty()) throw new IllegalArgumentException("token node name is empty");
        if (claimUid.isEmpty()) throw new IllegalArgumentException("token claim uid is empty");
        if (epoch < 0) throw new IllegalArgumentException("attach epoch " + epoch + " is negative");
        slabs = List.copyOf(slabs);
        if (slabs.isEmpty()) throw new IllegalArgumentException("a token must grant at least one slab");
        if (slabs.size() > 0xFFFF) throw new IllegalArgumentException("a token grants at most 65535 slab ranges");
    }

    public boolean grants(int slab) {
        for (SlabRange r : slabs) if (r.contains(slab)) return true;
        return false;
    }
}
