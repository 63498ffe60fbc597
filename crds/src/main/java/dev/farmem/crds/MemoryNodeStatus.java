package dev.farmem.crds;

import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

/** Written by the agent (endpoint, incarnation, capacity, slabs, version) and by the operator (Lost). */
public class MemoryNodeStatus {
    public static final String READY = "Ready";
    public static final String LOST = "Lost";

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
    public String transport;
    public List<Condition> conditions = new ArrayList<>();
}
