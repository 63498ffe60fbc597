package dev.farmem.client.sidecar;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.cache.ClockHand;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** Eviction and an application's hazards, on the shared layout itself (one process plays both sides). */
class FrameGuardTest {

    @Test
    void evictionNeverClaimsAFrameAnApplicationThreadPublishedAndTakesItOnceTheHazardIsGone() {
        CacheRegion region = CacheRegion.allocate(4096, 4);
        SharedControl control = SharedControl.create(ByteBuffer.allocateDirect((int) SharedControl.bytesNeeded(2, 2)).order(ByteOrder.LITTLE_ENDIAN), 2, 2);
        region.guard(control::frameInUse);
        for (int f = 0; f < 4; f++) {
            region.setTag(f, f + 1); // frame f holds block f
            region.insert(f, f);
        }
        control.owner(1, 42); // an application process holds lease 1...
        control.raiseThreadsUsed(1, 2);
        int slot = control.slot(1, 1); // ...and its second thread uses frame 2
        control.hazard(slot, 3, 2 + 1L);

        ClockHand clock = new ClockHand(region);
        for (int i = 0; i < 3; i++) {
            int victim = clock.claimVictim();
            assertThat(victim).isNotEqualTo(2).isNotNegative();
            assertThat(region.tryExclusive(2)).isFalse();
        }
        assertThat(region.state(2)).as("a refused claim leaves the frame as it was").isZero();

        control.hazard(slot, 3, SharedControl.reservation(7)); // a pending miss reserves a hazard: no frame named
        assertThat(control.frameInUse(2)).isFalse();
        control.hazard(slot, 3, 0L);
        assertThat(region.tryExclusive(2)).isTrue();

        region.setState(2, 0);
        control.hazard(slot, 0, 2 + 1L);
        control.owner(1, 0); // a lease given back (or reclaimed) no longer protects anything
        assertThat(control.frameInUse(2)).isFalse();
    }
}
