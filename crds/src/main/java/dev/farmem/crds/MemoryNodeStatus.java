package dev.farmem.crds;

import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

/** Written by the agent (endpoint, incarnation, capacity, slabs, version) and by the operator (Lost). */
public class MemoryNodeStatus {
    public static final String READY = "Ready";
    public static final String LOST = "Lost";
    /** {@link #transport}: the agent serves TCP only. */
    public static final String TCP = "tcp";
    /** {@link #transport}: the agent serves RDMA beside TCP on the same endpoint. */
    public static final String RDMA_AND_TCP = "rdma+tcp";

    /** Ready once the agent serves; Lost when its Lease expired. */
    public String phase;
    /** host:port clients connect to. */
    public String endpoint;
    /**
     * The agent process serving this memory node: a random 64-bit number (16 hex digits) drawn at start and
     * written once. Tokens name it, so a restarted agent, whose region is empty, refuses the tokens of the one before.
     */
    public String incarnation;
    public Long capacityBytes;
    public Long slabSizeBytes;
    public Integer slabs;
    public String version;
    /**
     * What the agent serves, as it found at start: {@link #TCP}, or {@link #RDMA_AND_TCP} when RDMA came up beside TCP.
     * A pool's transport auto binds a claim to RDMA only when every memory node it uses says {@link #RDMA_AND_TCP}.
     */
    public String transport;
    /**
     * Set by the operator while this memory node leaves (its node drained, the pool scaled down, the
     * agent upgraded): why, and what it waits for. It takes no new slabs meanwhile; its agent goes once
     * no claim holds a slab here.
     */
    public String draining;
    public List<Condition> conditions = new ArrayList<>();
}
