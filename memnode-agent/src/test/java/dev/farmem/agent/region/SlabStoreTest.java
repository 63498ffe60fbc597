package dev.farmem.agent.region;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SlabStoreTest {

    static final long SLAB = 64 * 1024;
    final SlabStore store = SlabStore.allocate(4 * SLAB, SLAB, null);

    static CapabilityToken token(String uid, long epoch, int first, int count) {
        return new CapabilityToken("n", 1, uid, epoch, List.of(new SlabRange(first, count)), Rights.READ_WRITE, Long.MAX_VALUE);
    }

    @Test
    void aNewClaimFindsItsSlabZeroedAndOwned() {
        store.attach(token("a", 1, 0, 2));
        fill(0, (byte) 7);
        store.attach(token("b", 2, 0, 1));
        assertThat(allBytes(0)).containsOnly((byte) 0);
        assertThat(store.checkAccess(0, 0, 64, "b", 2)).isNull();
        assertThat(store.ownedSlabs()).isEqualTo(2);
    }

    @Test
    void theSameClaimAttachingAgainKeepsItsDataAndFencesTheOlderEpoch() {
        store.attach(token("a", 1, 1, 1));
        fill(1, (byte) 9);
        store.attach(token("a", 5, 1, 1));
        assertThat(allBytes(1)).containsOnly((byte) 9);
        assertThat(store.checkAccess(1, 0, 64, "a", 1).code()).isEqualTo(ErrorCode.FENCED);
        assertThat(store.checkAccess(1, 0, 64, "a", 5)).isNull();
        assertThatThrownBy(() -> store.attach(token("a", 4, 1, 1)))
                .isInstanceOfSatisfying(TransportException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.FENCED));
    }

    @Test
    void anotherClaimWithTheSameEpochCannotTakeASlabOver() {
        store.attach(token("a", 3, 2, 1));
        fill(2, (byte) 1);
        assertThatThrownBy(() -> store.attach(token("b", 3, 2, 1))).hasMessageContaining("FENCED");
        assertThat(allBytes(2)).containsOnly((byte) 1);
    }

    @Test
    void aRefusedAttachChangesNoSlab() {
        store.attach(token("a", 9, 3, 1));
        fill(3, (byte) 4);
        // slab 2 is free and would be taken, but slab 3 has a newer epoch: nothing happens.
        assertThatThrownBy(() -> store.attach(token("b", 2, 2, 2))).hasMessageContaining("FENCED");
        assertThat(store.checkAccess(2, 0, 1, "b", 2).code()).isEqualTo(ErrorCode.FENCED);
        assertThat(allBytes(3)).containsOnly((byte) 4);
    }

    @Test
    void accessOutsideTheSlabOrRegionIsOutOfRange() {
        store.attach(token("a", 1, 0, 1));
        assertThat(store.checkAccess(0, SLAB - 64, 64, "a", 1)).isNull();
        assertThat(store.checkAccess(0, SLAB - 63, 64, "a", 1).code()).isEqualTo(ErrorCode.OUT_OF_RANGE);
        assertThat(store.checkAccess(0, -1, 1, "a", 1).code()).isEqualTo(ErrorCode.OUT_OF_RANGE);
        assertThat(store.checkAccess(0, Long.MAX_VALUE, 64, "a", 1).code()).isEqualTo(ErrorCode.OUT_OF_RANGE);
        assertThat(store.checkAccess(4, 0, 1, "a", 1).code()).isEqualTo(ErrorCode.OUT_OF_RANGE);
        assertThatThrownBy(() -> store.attach(token("a", 1, 3, 2))).hasMessageContaining("this node has 4 slabs");
    }

    @Test
    void sizesAreCheckedWithReasons() {
        assertThatThrownBy(() -> SlabStore.allocate(SLAB * 3 + 1, SLAB, null)).hasMessageContaining("multiple of the slab size");
        assertThatThrownBy(() -> SlabStore.allocate(4L << 30, 2L << 30, null)).hasMessageContaining("between 4KiB and 1GiB");
        assertThatThrownBy(() -> SlabStore.allocate(SLAB, 1000, null)).hasMessageContaining("multiple of 4KiB");
    }

    @Test
    void memoryThatCannotBeHadSaysHowMuchWasAsked() {
        // Far above the test JVM's direct-memory limit (-Xmx2g).
        assertThatThrownBy(() -> SlabStore.allocate(64L << 30, 1L << 30, null))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cannot allocate 68719476736 bytes")
                .hasMessageContaining("MaxDirectMemorySize");
    }

    @Test
    void aBackingFileIsMappedAndRemoved(@TempDir Path dir) {
        Path file = dir.resolve("region");
        SlabStore mapped = SlabStore.allocate(2 * SLAB, SLAB, file);
        assertThat(Files.exists(file)).isFalse();
        mapped.slab(1).put(5, (byte) 42);
        assertThat(mapped.slab(1).get(5)).isEqualTo((byte) 42);
        assertThat(mapped.capacity()).isEqualTo(2 * SLAB);
    }

    private void fill(int slab, byte value) {
        ByteBuffer b = store.slab(slab);
        for (int i = 0; i < SLAB; i++) b.put(i, value);
    }

    private byte[] allBytes(int slab) {
        byte[] out = new byte[(int) SLAB];
        store.slab(slab).duplicate().clear().get(out);
        return out;
    }
}
