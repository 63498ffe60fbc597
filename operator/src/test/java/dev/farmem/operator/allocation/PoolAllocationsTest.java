package dev.farmem.operator.allocation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimSpec;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.common.binding.Binding;
import java.util.List;
import org.junit.jupiter.api.Test;

class PoolAllocationsTest {

    @Test
    void aFreshOperatorRebuildsEachPoolFromItsClaimStatusesOnly() {
        FarMemoryClaim a = bound("a", "rack-a", 5_000_000_000_000L, new Binding.Extent(0, 4, List.of(new Binding.Replica("m1", 0), new Binding.Replica("m2", 8))));
        FarMemoryClaim b = bound("b", "rack-b", 9_000_000_000_000L, new Binding.Extent(0, 2, List.of(new Binding.Replica("m1", 0))));
        FarMemoryClaim pending = claim("c", "rack-a");
        PoolAllocations allocations = new PoolAllocations();
        PoolState state = allocations.of("rack-a", "pool-uid-1", () -> List.of(a, b, pending));
        SlabAllocator rackA = state.allocator();
        allocations.of("rack-a", "pool-uid-1", () -> {
            throw new AssertionError("the claims are read once per pool");
        });

        assertThat(rackA.claims()).containsExactly("uid-a");
        assertThat(rackA.usedSlabs("m1")).isEqualTo(4);
        assertThat(rackA.usedSlabs("m2")).isEqualTo(4);
        assertThat(state.restoreErrors()).isEmpty();
        long epoch = state.nextEpoch();
        assertThat(epoch).as("above every recorded epoch of the pool").isGreaterThan(5_000_000_000_000L);
        assertThat(state.nextEpoch()).isGreaterThan(epoch);
    }

    @Test
    void statusesThatClaimOneSlabTwiceAreReportedNotMerged() {
        FarMemoryClaim a = bound("a", "rack-a", 1, new Binding.Extent(0, 4, List.of(new Binding.Replica("m1", 0))));
        FarMemoryClaim b = bound("b", "rack-a", 2, new Binding.Extent(0, 2, List.of(new Binding.Replica("m1", 3))));
        PoolAllocations allocations = new PoolAllocations();
        PoolState state = allocations.of("rack-a", "pool-uid-1", () -> List.of(a, b));
        assertThat(state.allocator().claims()).containsExactly("uid-a");
        assertThat(state.restoreErrors()).singleElement().asString().contains("default/b").contains("slab 3 of memory node m1");
    }

    static FarMemoryClaim claim(String name, String pool) {
        FarMemoryClaim c = new FarMemoryClaim();
        c.getMetadata().setName(name);
        c.getMetadata().setNamespace("default");
        c.getMetadata().setUid("uid-" + name);
        c.setSpec(new FarMemoryClaimSpec());
        c.getSpec().pool = pool;
        return c;
    }

    static FarMemoryClaim bound(String name, String pool, long epoch, Binding.Extent... extents) {
        FarMemoryClaim c = claim(name, pool);
        c.getStatus().phase = FarMemoryClaimStatus.BOUND;
        c.getStatus().epoch = epoch;
        c.getStatus().extents = PoolAllocations.toStatus(List.of(extents));
        return c;
    }
}
