package dev.farmem.crds;

import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;

/** "Give my workload sizeBytes of far memory from pool, replicated replication times." Immutable once created. */
@ValidationRule(value = "self == oldSelf",
        message = "the spec of a FarMemoryClaim cannot change after creation: delete the claim and create a new one",
        reason = "FieldValueForbidden")
public class FarMemoryClaimSpec {

    /** The FarMemoryPool to take memory from. */
    @Required
    @Pattern("^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    public String pool;

    /** Bytes of far memory; the operator refuses sizes that are not a multiple of the pool's slab size. */
    @Required
    @Min(1048576)
    @ValidationRule(value = "self % 1048576 == 0",
            message = "sizeBytes must be a multiple of 1 MiB (1048576) and of the pool's slabSizeBytes",
            reason = "FieldValueInvalid")
    public Long sizeBytes;

    /** Copies of every slab, each on a distinct memory node. */
    @Default("1")
    @Min(1)
    @Max(3)
    public Integer replication = 1;
}
