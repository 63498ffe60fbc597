package dev.farmem.crds;

import io.fabric8.kubernetes.api.model.Condition;
import java.util.ArrayList;
import java.util.List;

/** What the operator observed of a pool. Conditions: Ready, Progressing, Degraded. */
public class FarMemoryPoolStatus {
    public Long observedGeneration;
    public List<Condition> conditions = new ArrayList<>();
    public Integer nodesDesired;
    public Integer nodesReady;
    public Integer nodesLost;
    public Long bytesTotal;
    public Long bytesAllocated;
    public Long bytesFree;
    /** "ready/desired", for kubectl get. */
    public String readyNodes;
    /** bytesTotal in binary units, for kubectl get. */
    public String capacity;
    /** bytesAllocated in binary units, for kubectl get. */
    public String allocated;
}
