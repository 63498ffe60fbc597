package dev.farmem.operator.allocation;

import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.common.binding.Binding.Extent;
import dev.farmem.common.binding.Binding.Replica;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link PoolState} of every pool, each built on first use from the extents recorded in the
 * status of the pool's claims: the claim statuses are the only record, so a restarted operator
 * (or a new leader) hands out exactly the slabs nobody holds.
 */
public final class PoolAllocations {
    private static final Logger LOG = LoggerFactory.getLogger(PoolAllocations.class);

    /** The claim key the allocator uses: the uid, so a claim recreated under the same name is a new claim. */
    public static String key(FarMemoryClaim claim) {
        return claim.getMetadata().getUid();
    }

    private final Map<String, PoolState> pools = new ConcurrentHashMap<>();

    /**
     * The state of the pool object named {@code pool} with uid {@code uid}, built on first use;
     * {@code claims} lists every claim (any pool), read only when the state is built. A state
     * left by an earlier pool of the same name (another uid) is dropped, key and epochs included.
     */
    public PoolState of(String pool, String uid, Supplier<? extends Iterable<FarMemoryClaim>> claims) {
        return pools.compute(pool, (p, known) -> known != null && Objects.equals(known.uid(), uid) ? known : rebuild(p, uid, claims.get()));
    }

    /** Forgets a deleted pool: its allocator, token issuer, epochs and Lost nodes go together. */
    public void forget(String pool) {
        pools.remove(pool);
    }

    private PoolState rebuild(String pool, String uid, Iterable<FarMemoryClaim> claims) {
        SlabAllocator allocator = new SlabAllocator();
        List<String> errors = new ArrayList<>();
        long lastEpoch = 0;
        int restored = 0;
        for (FarMemoryClaim c : claims) {
            if (c.getSpec() == null || !pool.equals(c.getSpec().pool)) continue;
            List<Extent> extents = extentsOf(c.getStatus());
            if (extents.isEmpty()) continue;
            if (c.getStatus().epoch != null) lastEpoch = Math.max(lastEpoch, c.getStatus().epoch);
            try {
                allocator.restore(key(c), extents);
                restored++;
            } catch (IllegalStateException e) {
                errors.add(c.getMetadata().getNamespace() + "/" + c.getMetadata().getName() + ": " + e.getMessage());
            }
        }
        LOG.info("pool {}: allocation rebuilt from {} claim statuses", pool, restored);
        if (!errors.isEmpty()) LOG.error("pool {}: claim statuses disagree: {}", pool, errors);
        return new PoolState(uid, allocator, errors, lastEpoch);
    }

    /** The extents a claim status records, in the allocator's terms. */
    public static List<Extent> extentsOf(FarMemoryClaimStatus status) {
        if (status == null || status.extents == null) return List.of();
        List<Extent> out = new ArrayList<>();
        for (FarMemoryClaimStatus.Extent e : status.extents) {
            List<Replica> replicas = new ArrayList<>();
            for (FarMemoryClaimStatus.Replica r : e.replicas) replicas.add(new Replica(r.node, r.firstSlab, Boolean.TRUE.equals(r.filling)));
            out.add(new Extent(e.firstSlab, e.count, List.copyOf(replicas)));
        }
        return List.copyOf(out);
    }

    /** The allocator's extents as a claim status records them (a filling replica's {@code replaces} is the caller's to set). */
    public static List<FarMemoryClaimStatus.Extent> toStatus(List<Extent> extents) {
        List<FarMemoryClaimStatus.Extent> out = new ArrayList<>();
        for (Extent e : extents) {
            List<FarMemoryClaimStatus.Replica> replicas = new ArrayList<>();
            for (Replica r : e.replicas()) {
                FarMemoryClaimStatus.Replica sr = new FarMemoryClaimStatus.Replica(r.node(), r.firstSlab());
                if (r.filling()) sr.filling = true;
                replicas.add(sr);
            }
            out.add(new FarMemoryClaimStatus.Extent(e.firstSlab(), e.count(), replicas));
        }
        return out;
    }
}
