package dev.farmem.crds;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * The memory a set of memory nodes donate (cluster-scoped). The operator places one agent pod
 * per chosen node and aggregates their {@link MemoryNode}s into the status.
 */
@Group(FarMemoryPool.GROUP)
@Version(FarMemoryPool.VERSION)
@ShortNames("fmpool")
@AdditionalPrinterColumn(name = "Ready", jsonPath = ".status.readyNodes", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Capacity", jsonPath = ".status.capacity", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Allocated", jsonPath = ".status.allocated", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class FarMemoryPool extends CustomResource<FarMemoryPoolSpec, FarMemoryPoolStatus> {
    public static final String GROUP = "farmem.io";
    public static final String VERSION = "v1alpha1";

    @Override
    protected FarMemoryPoolStatus initStatus() {
        return new FarMemoryPoolStatus();
    }
}
