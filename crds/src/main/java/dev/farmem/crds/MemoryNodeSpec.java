package dev.farmem.crds;

import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;

/** Where the operator placed an agent. Immutable: a new placement is a new MemoryNode. */
@ValidationRule(value = "self == oldSelf", message = "the spec of a MemoryNode cannot change: it names one placement",
        reason = "FieldValueForbidden")
public class MemoryNodeSpec {
    @Required
    public String pool;
    /** The Kubernetes node the agent runs on. */
    @Required
    public String nodeName;
    /** The value of the pool's topology key on that node ("" when the node has no such label). */
    public String zone;
    /** The namespace of the agent pod and of the Lease. */
    @Required
    public String namespace;
    @Required
    public Long capacityBytes;
    @Required
    public Long slabSizeBytes;
}
