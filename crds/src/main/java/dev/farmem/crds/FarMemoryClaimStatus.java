package dev.farmem.crds;

import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

/**
 * The binding of a claim. {@link #extents} is the operator's only record of which slabs the claim
 * holds: the allocator is rebuilt from these on start.
 */
public class FarMemoryClaimStatus {
    public static final String PENDING = "Pending";
    public static final String BOUND = "Bound";
    public static final String RELEASED = "Released";

    public Long observedGeneration;
    /** Pending, Bound or Released. */
    public String phase;
    public String reason;
    public String message;
    public List<Condition> conditions = new ArrayList<>();
    /** sizeBytes in binary units, for kubectl get. */
    public String size;
    public Long slabSizeBytes;
    /** Raised on every rebind, so that an agent fences tokens of an older attach. */
    public Long epoch;
    /** The Secret in the claim's namespace that holds binding.json. */
    public String bindingSecret;
    /** Claim slabs as compact runs; each run lives on every one of its replicas. */
    public List<Extent> extents;
    /** While replicas are being filled (re-replication, a move): bytes the copies filled so far. */
    public Long bytesCopied;
    /** While replicas are being filled: bytes the copies still have to fill; absent when every replica is complete. */
    public Long bytesToGo;

    public static class Extent {
        public Long firstSlab;
        public Integer count;
        public List<Replica> replicas;

        public Extent() {}

        public Extent(long firstSlab, int count, List<Replica> replicas) {
            this.firstSlab = firstSlab;
            this.count = count;
            this.replicas = replicas;
        }
    }

    /**
     * A copy of an extent on memory node {@link #node} starting at that node's slab {@link #firstSlab}. A replica
     * that is {@link #filling} joined to replace the one on node {@link #replaces} (lost, or moving away) and is being
     * filled by an agent-to-agent copy: clients write to it and do not read it until the copy is done.
     */
    public static class Replica {
        public String node;
        public Integer firstSlab;
        public Boolean filling;
        public String replaces;

        public Replica() {}

        public Replica(String node, int firstSlab) {
            this.node = node;
            this.firstSlab = firstSlab;
        }
    }
}
