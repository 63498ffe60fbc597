package dev.farmem.crds;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * One agent serving one region (cluster-scoped). The operator creates it with the spec when it
 * places the agent; the agent writes the status and renews a Lease of the same name.
 */
@Group(FarMemoryPool.GROUP)
@Version(FarMemoryPool.VERSION)
@ShortNames("memnode")
@AdditionalPrinterColumn(name = "Pool", jsonPath = ".spec.pool", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Node", jsonPath = ".spec.nodeName", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Endpoint", jsonPath = ".status.endpoint", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class MemoryNode extends CustomResource<MemoryNodeSpec, MemoryNodeStatus> {

    /** The label every MemoryNode, agent pod and Lease of a pool carries. */
    public static final String POOL_LABEL = "farmem.io/pool";

    @Override
    protected MemoryNodeStatus initStatus() {
        return new MemoryNodeStatus();
    }
}
