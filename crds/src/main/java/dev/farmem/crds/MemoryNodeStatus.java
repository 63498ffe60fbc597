package dev.farmem.crds;

import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

/** Written by the agent (endpoint, capacity, slabs, version) and by the operator (Lost). */
public class MemoryNodeStatus {
    public static final String READY = "Ready";
    public static final String LOST = "Lost";

    /** Ready once the agent serves; Lost when its Lease expired. */
    public String phase;
    /** host:port clients connect to. */
    public String endpoint;
    public Long capacityBytes;
    public Long slabSizeBytes;
    public Integer slabs;
    public String version;
    public String transport;
    public List<Condition> conditions = new ArrayList<>();
}
