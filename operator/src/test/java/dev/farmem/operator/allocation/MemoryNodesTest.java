package dev.farmem.operator.allocation;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeSpec;
import dev.farmem.crds.MemoryNodeStatus;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The one definition of Lost and of a memory node that accepts slabs, which both reconcilers use. */
class MemoryNodesTest {

    @Test
    void lostIsTheStatusTheOperatorsOwnFindingOrAMemoryNodeThatIsGone() {
        assertThat(MemoryNodes.isLost(node("m1", MemoryNodeStatus.LOST), Set.of())).isTrue();
        assertThat(MemoryNodes.isLost(node("m1", MemoryNodeStatus.READY), Set.of("m1"))).as("found Lost, cache not caught up").isTrue();
        assertThat(MemoryNodes.isLost(null, Set.of())).as("deleted: its region is gone").isTrue();
        assertThat(MemoryNodes.isLost(node("m1", MemoryNodeStatus.READY), Set.of("m2"))).isFalse();
        assertThat(MemoryNodes.isLost(node("m1", "Starting"), Set.of())).isFalse();
    }

    @Test
    void onlyAReadyNodeNotFoundLostAcceptsSlabsAndTheOthersKeepTheirs() {
        MemoryNode ready = node("ready", MemoryNodeStatus.READY);
        MemoryNode foundLost = node("found-lost", MemoryNodeStatus.READY);
        MemoryNode starting = node("starting", "Starting");
        MemoryNode lost = node("lost", MemoryNodeStatus.LOST);
        assertThat(MemoryNodes.allocatorNodes(List.of(ready, foundLost, starting, lost), Set.of("found-lost"))).containsExactly(
                new SlabAllocator.Node("ready", "zone-a", 4, true),
                new SlabAllocator.Node("found-lost", "zone-a", 4, false),
                new SlabAllocator.Node("starting", "zone-a", 4, false),
                new SlabAllocator.Node("lost", "zone-a", 4, false));
    }

    static MemoryNode node(String name, String phase) {
        MemoryNode m = new MemoryNode();
        m.getMetadata().setName(name);
        m.setSpec(new MemoryNodeSpec());
        m.getSpec().zone = "zone-a";
        m.getSpec().capacityBytes = 256L << 20;
        m.getSpec().slabSizeBytes = 64L << 20;
        m.getStatus().phase = phase;
        return m;
    }
}
