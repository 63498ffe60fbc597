package dev.farmem.client.cache;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CacheRegionTest {

    @Test
    void blockTableAgreesWithAHashMapOverRandomInsertsAndRemovals() {
        CacheRegion r = CacheRegion.allocate(4096, 512);
        Map<Long, Integer> model = new HashMap<>();
        Random rnd = new Random(7);
        for (int op = 0; op < 200_000; op++) {
            long block = rnd.nextInt(4096); // many more blocks than frames: long probe chains, wrap-around
            if (model.size() < 512 && rnd.nextBoolean()) {
                int frame = rnd.nextInt(512);
                r.insert(block, frame);
                model.put(block, frame);
            } else {
                assertThat(r.remove(block)).isEqualTo(model.remove(block) != null);
            }
            long probe = rnd.nextInt(4096);
            assertThat(r.lookup(probe)).isEqualTo(model.getOrDefault(probe, -1));
        }
        for (Map.Entry<Long, Integer> e : model.entrySet()) assertThat(r.lookup(e.getKey())).isEqualTo(e.getValue());
    }

    @Test
    void aRegionFileWrittenWithAnotherLayoutIsNotReattached() {
        ByteBuffer file = ByteBuffer.allocateDirect(Math.toIntExact(CacheRegion.bytesNeeded(4096, 16))).order(ByteOrder.LITTLE_ENDIAN);
        CacheRegion.over(file, 4096, 16);
        assertThat(CacheRegion.holds(file, 4096, 16)).isTrue();
        assertThat(CacheRegion.holds(file, 4096, 32)).as("another frame count").isFalse();
        file.putInt(0, 0x4641524d); // "FARM": layout 1, whose table and data offsets differ
        assertThat(CacheRegion.holds(file, 4096, 16)).isFalse();
    }

    @Test
    void blockTableScalesWithTheFramesNotTheClaim() {
        CacheRegion r = CacheRegion.allocate(4096, 100);
        assertThat(r.tableSlots()).isEqualTo(256);
        r.insert(CacheRegion.MAX_BLOCKS, 99); // a block of a claim of petabytes fits the same table
        assertThat(r.lookup(CacheRegion.MAX_BLOCKS)).isEqualTo(99);
    }

    @Test
    void aPinnedFrameCannotBeClaimedExclusivelyAndAnExclusiveFrameCannotBePinned() {
        CacheRegion r = CacheRegion.allocate(4096, 4);
        assertThat(r.tryPin(0)).isTrue();
        assertThat(r.tryExclusive(0)).isFalse();
        r.unpin(0);
        assertThat(r.tryExclusive(0)).isTrue();
        assertThat(r.tryPin(0)).isFalse();
        assertThat(r.tryBeginWriteBack(0)).isFalse();
        r.setState(0, 0);
        assertThat(r.tryBeginWriteBack(0)).isTrue();
        assertThat(r.tryBeginWriteBack(0)).isFalse();
        assertThat(r.tryPin(0)).isTrue(); // writers may write while a write-back is in flight
        assertThat(r.tryExclusive(0)).isFalse();
        r.unpin(0);
        r.endWriteBack(0);
        assertThat(r.state(0)).isZero();
    }

    @Test
    void takeMaskReturnsTheDirtyBitsAndLeavesTheFrameClean() {
        CacheRegion r = CacheRegion.allocate(4096, 4);
        assertThat(r.orMask(2, 0, 0b101L)).isZero();
        assertThat(r.orMask(2, 0, 0b100L)).isEqualTo(0b101L);
        assertThat(r.isDirty(2)).isTrue();
        assertThat(r.takeMask(2, 0)).isEqualTo(0b101L);
        assertThat(r.isDirty(2)).isFalse();
    }

    @Test
    void theVersionIsOddWhileAFrameChanges() {
        CacheRegion r = CacheRegion.allocate(4096, 4);
        long v = r.version(1);
        r.beginChange(1);
        assertThat(r.version(1) & 1).isEqualTo(1);
        assertThatThrownBy(() -> r.beginChange(1)).isInstanceOf(IllegalStateException.class);
        r.endChange(1);
        assertThat(r.version(1)).isEqualTo(v + 2);
    }

    @Test
    void theDirectTableHoldsAStampExactlyWhileTheFrameHoldsTheBlock() {
        CacheRegion r = CacheRegion.allocate(4096, 4, 100);
        assertThat(r.hasDirectTable()).isTrue();
        assertThat(r.tryOptimisticRead(7)).isEqualTo(-1);
        load(r, 2, 7);
        long stamp = r.tryOptimisticRead(7);
        assertThat(stamp).isNotNegative();
        assertThat(r.stampFrame(stamp)).isEqualTo(2);
        assertThat(r.validate(7, stamp)).isTrue();
        assertThat(r.cachedFrame(7)).isEqualTo(2);

        r.beginChange(2); // the frame is being evicted: a read in progress must fail, a new one must not start
        assertThat(r.validate(7, stamp)).isFalse();
        assertThat(r.tryOptimisticRead(7)).isEqualTo(-1);
        assertThat(r.cachedFrame(7)).isEqualTo(-1);
        r.endChange(2); // ... and the same block came back into the same frame: still not the same stamp
        assertThat(r.validate(7, stamp)).isFalse();
        long again = r.tryOptimisticRead(7);
        assertThat(again).isNotEqualTo(stamp);
        assertThat(r.validate(7, again)).isTrue();

        r.beginChange(2); // the frame moves to another block
        r.remove(7);
        r.setTag(2, 9 + 1);
        r.insert(9, 2);
        assertThat(r.tryOptimisticRead(9)).as("not readable until its data are in").isEqualTo(-1);
        r.endChange(2);
        assertThat(r.tryOptimisticRead(7)).isEqualTo(-1);
        assertThat(r.validate(7, again)).isFalse();
        assertThat(r.stampFrame(r.tryOptimisticRead(9))).isEqualTo(2);
        assertThat(r.tryOptimisticRead(100)).as("a block past the claim").isEqualTo(-1);
    }

    @Test
    void aRegionWithoutADirectTableReadsThroughTheHashTableAndTheFrameHeader() {
        for (CacheRegion r : new CacheRegion[] {CacheRegion.allocate(4096, 4), CacheRegion.allocate(4096, 4, CacheRegion.DIRECT_TABLE_MAX_BLOCKS + 1)}) {
            assertThat(r.hasDirectTable()).isFalse();
            load(r, 1, 5);
            long stamp = r.tryOptimisticRead(5);
            assertThat(r.stampFrame(stamp)).isEqualTo(1);
            assertThat(r.validate(5, stamp)).isTrue();
            r.beginChange(1);
            assertThat(r.validate(5, stamp)).isFalse();
            assertThat(r.tryOptimisticRead(5)).isEqualTo(-1);
        }
    }

    @Test
    void aTranslationEntryServesItsBlockUntilTheFrameChangesThenIsForgotten() {
        for (CacheRegion r : new CacheRegion[] {CacheRegion.allocate(4096, 4, 100), CacheRegion.allocate(4096, 4)}) {
            Translation t = new Translation();
            assertThat(r.tryOptimisticRead(7, t)).as("nothing cached: nothing remembered").isEqualTo(-1);
            assertThat(t.block()).isEqualTo(-1);
            load(r, 2, 7);
            long stamp = r.tryOptimisticRead(7, t);
            assertThat(r.stampFrame(stamp)).isEqualTo(2);
            assertThat(t.block()).as("the entry remembers the block").isEqualTo(7);
            assertThat(r.tryOptimisticRead(7, t)).as("a repeated access gets the entry's stamp").isEqualTo(stamp);
            assertThat(r.validate(7, stamp, t)).isTrue();

            r.beginChange(2); // eviction starts: the remembered stamp must not validate, and the entry goes
            assertThat(r.tryOptimisticRead(7, t)).as("the entry still answers before the read...").isEqualTo(stamp);
            assertThat(r.validate(7, stamp, t)).as("...but its read does not validate").isFalse();
            assertThat(t.block()).isEqualTo(-1);
            assertThat(r.tryOptimisticRead(7, t)).as("while the frame changes the block is not readable").isEqualTo(-1);

            r.remove(7); // the frame is re-used for another block
            r.setTag(2, 9 + 1);
            r.insert(9, 2);
            r.endChange(2);
            assertThat(r.tryOptimisticRead(7, t)).isEqualTo(-1);
            long nine = r.tryOptimisticRead(9, t);
            assertThat(r.stampFrame(nine)).as("the same frame, now for block 9").isEqualTo(2);
            assertThat(nine).isNotEqualTo(stamp);
            assertThat(r.validate(9, nine, t)).isTrue();
            assertThat(r.validate(7, stamp, new Translation())).as("an entry left from block 7's tenancy").isFalse();

            r.beginChange(2); // ... and block 7 comes back into the same frame: an old stamp of it still fails
            r.remove(9);
            r.setTag(2, 7 + 1);
            r.insert(7, 2);
            r.endChange(2);
            Translation stale = new Translation();
            stale.block = 7;
            stale.stamp = stamp;
            assertThat(r.validate(7, r.tryOptimisticRead(7, stale), stale)).as("an entry from before the eviction").isFalse();
            assertThat(r.validate(7, r.tryOptimisticRead(7, stale), stale)).as("translated again after it was forgotten").isTrue();
        }
    }

    @Test
    void aTranslationEntryCountsItsThreadsHits() {
        Translation t = new Translation();
        t.countHit();
        t.countHits(41);
        assertThat(t.hits()).isEqualTo(42);
    }

    /** Loads {@code block} into an empty {@code frame} the way the engine does. */
    private static void load(CacheRegion r, int frame, long block) {
        r.beginChange(frame);
        r.setTag(frame, block + 1);
        r.insert(block, frame);
        r.endChange(frame);
    }

    @Test
    void valuesOfOneToEightBytesAreStoredLittleEndian() {
        CacheRegion r = CacheRegion.allocate(4096, 2);
        r.putLittleEndian(1, 4093, 3, 0xABCDEFL);
        assertThat(r.getByte(1, 4093)).isEqualTo((byte) 0xEF);
        assertThat(r.getLittleEndian(1, 4093, 3)).isEqualTo(0xABCDEFL);
        r.putLittleEndian(0, 8, 8, 0x0102030405060708L);
        assertThat(r.getLong(0, 8)).isEqualTo(0x0102030405060708L);
        assertThat(r.getLittleEndian(0, 9, 2)).isEqualTo(0x0607L);
        assertThatThrownBy(() -> r.getLittleEndian(1, 4094, 3)).isInstanceOf(IndexOutOfBoundsException.class);
    }

    @Test
    void frameDataIsPageAlignedAndSeparateFromOtherFrames() {
        CacheRegion r = CacheRegion.allocate(4096, 3);
        assertThat(r.dataIndex(0, 0) % 4096).isZero();
        r.putLong(1, 4088, -1L);
        assertThat(r.getLong(1, 4088)).isEqualTo(-1L);
        assertThat(r.getLong(2, 0)).isZero();
    }

    @Test
    void aFrameOrOffsetOutsideTheRegionThrowsInsteadOfTouchingOtherMemory() {
        CacheRegion r = CacheRegion.allocate(4096, 3);
        assertThatThrownBy(() -> r.getLong(3, 0)).isInstanceOf(IndexOutOfBoundsException.class).hasMessageContaining("3 frames");
        assertThatThrownBy(() -> r.getLong(-1, 0)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> r.putLong(0, 4089, 1)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> r.getInt(0, -4)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> r.version(7)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThat(r.getInt(0, 4092)).isZero();
    }

    @Test
    void aCacheThatDoesNotFitOneRegionIsRefusedWithTheReason() {
        assertThatThrownBy(() -> CacheRegion.allocate(4096, 1 << 20))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("choose a smaller cache");
        assertThatThrownBy(() -> CacheRegion.allocate(100, 4))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("power of two");
    }
}
