package dev.farmem.operator.allocation;

import dev.farmem.common.token.TokenIssuer;
import io.fabric8.kubernetes.api.model.Secret;
import java.util.Base64;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the operator holds in memory for one pool (one pool object: a pool deleted and recreated
 * under the same name is a new uid and gets a new state): its slab allocator, the token issuer
 * made from its key Secret, the last attach epoch handed out, and the memory nodes found Lost
 * whose status patch the caches may not show yet. Made and forgotten as one by
 * {@link PoolAllocations}, so nothing of a deleted pool outlives it.
 */
public final class PoolState {
    private final String uid;
    private final SlabAllocator allocator;
    private final List<String> restoreErrors;
    private final AtomicLong lastEpoch;
    private final Set<String> foundLost = ConcurrentHashMap.newKeySet();
    private volatile TokenIssuer issuer;

    PoolState(String uid, SlabAllocator allocator, List<String> restoreErrors, long lastEpoch) {
        this.uid = uid;
        this.allocator = allocator;
        this.restoreErrors = List.copyOf(restoreErrors);
        this.lastEpoch = new AtomicLong(lastEpoch);
    }

    /** The uid of the pool object this state belongs to. */
    public String uid() {
        return uid;
    }

    public SlabAllocator allocator() {
        return allocator;
    }

    /** Claims whose recorded slabs clashed with another's when the allocator was rebuilt (should never happen). */
    public List<String> restoreErrors() {
        return restoreErrors;
    }

    /**
     * A fresh attach epoch for a claim of this pool: larger than every epoch the pool's claims
     * record, and than every epoch handed out before. The clock makes it survive a restart
     * without a stored counter.
     */
    public long nextEpoch() {
        long now = System.currentTimeMillis();
        return lastEpoch.updateAndGet(last -> Math.max(last + 1, now));
    }

    /**
     * The token issuer of this pool, made from its key Secret the first time one is found. A
     * Secret that does not name this pool object as its owner (one left by a deleted pool of the
     * same name, not yet collected) is not this pool's key: null, as when there is no key yet.
     */
    public TokenIssuer issuer(Secret keySecret, String keyFile) {
        TokenIssuer known = issuer;
        if (known != null) return known;
        if (keySecret == null || keySecret.getData() == null || !keySecret.getData().containsKey(keyFile)) return null;
        boolean ours = keySecret.getMetadata().getOwnerReferences() != null
                && keySecret.getMetadata().getOwnerReferences().stream().anyMatch(o -> uid != null && uid.equals(o.getUid()));
        if (!ours) return null;
        synchronized (this) {
            if (issuer == null) issuer = new TokenIssuer(Base64.getDecoder().decode(keySecret.getData().get(keyFile)));
            return issuer;
        }
    }

    /** Records a memory node found Lost in this reconcile, before the caches deliver its status. */
    public void foundLost(String memoryNode) {
        foundLost.add(memoryNode);
    }

    /** Memory nodes found Lost by this operator (Lost is final, so the set only grows while the pool lives). */
    public Set<String> foundLost() {
        return Set.copyOf(foundLost);
    }
}
