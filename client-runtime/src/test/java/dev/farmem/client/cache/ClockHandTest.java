package dev.farmem.client.cache;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ClockHandTest {

    @Test
    void claimsTheFirstColdCleanUnpinnedFrame() {
        CacheRegion r = CacheRegion.allocate(4096, 4);
        r.touch(0);
        r.tryPin(1);
        r.orMask(2, 0, 1L);
        ClockHand clock = new ClockHand(r);
        assertThat(clock.claimVictim()).isEqualTo(3);
        assertThat(r.state(3)).isEqualTo(CacheRegion.EXCLUSIVE);
        assertThat(r.accessed(0)).isFalse(); // second chance used up
    }

    @Test
    void givesARecentlyUsedFrameASecondChanceOnly() {
        CacheRegion r = CacheRegion.allocate(4096, 2);
        r.touch(0);
        r.touch(1);
        ClockHand clock = new ClockHand(r);
        assertThat(clock.claimVictim()).isEqualTo(0);
    }

    @Test
    void neverTakesAPinnedOrWrittenBackFrameAndOffersAColdDirtyOne() {
        CacheRegion r = CacheRegion.allocate(4096, 3);
        r.tryPin(0);
        r.tryBeginWriteBack(1);
        r.orMask(2, 0, 1L);
        ClockHand clock = new ClockHand(r);
        assertThat(clock.claimVictim()).isEqualTo(-1);
        assertThat(clock.dirtyCandidate()).isEqualTo(2);
        r.unpin(0);
        assertThat(clock.claimVictim()).isEqualTo(0);
    }
}
