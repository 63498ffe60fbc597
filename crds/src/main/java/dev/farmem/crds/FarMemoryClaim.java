package dev.farmem.crds;

import io.fabric8.crd.generator.annotation.AdditionalPrinterColumn;
import io.fabric8.kubernetes.api.model.Namespaced;
import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.model.annotation.Group;
import io.fabric8.kubernetes.model.annotation.ShortNames;
import io.fabric8.kubernetes.model.annotation.Version;

/**
 * A workload's request for far memory (namespaced, like a PVC). Once Bound, the Secret named in
 * {@code status.bindingSecret} holds the binding a client opens.
 */
@Group(FarMemoryPool.GROUP)
@Version(FarMemoryPool.VERSION)
@ShortNames("fmclaim")
@AdditionalPrinterColumn(name = "Pool", jsonPath = ".spec.pool", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Size", jsonPath = ".status.size", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Replication", jsonPath = ".spec.replication", type = AdditionalPrinterColumn.Type.INTEGER)
@AdditionalPrinterColumn(name = "Phase", jsonPath = ".status.phase", type = AdditionalPrinterColumn.Type.STRING)
@AdditionalPrinterColumn(name = "Age", jsonPath = ".metadata.creationTimestamp", type = AdditionalPrinterColumn.Type.DATE)
public class FarMemoryClaim extends CustomResource<FarMemoryClaimSpec, FarMemoryClaimStatus> implements Namespaced {

    @Override
    protected FarMemoryClaimStatus initStatus() {
        return new FarMemoryClaimStatus();
    }
}
