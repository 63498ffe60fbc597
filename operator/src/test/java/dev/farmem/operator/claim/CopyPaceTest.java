package dev.farmem.operator.claim;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** When the operator looks at a running copy again: when it should be done at the rate seen, within bounds. */
class CopyPaceTest {

    static final long MIB = 1 << 20;
    static final long SECOND = 1_000_000_000L;

    @Test
    void aCopyIsLookedAtAgainWhenItShouldBeDoneAtTheRateSeenSoFar() {
        CopyPace pace = CopyPace.start(0, 0);
        // 100 MiB in the first second, 50 MiB to go: half a second more.
        assertThat(pace.next(SECOND, 100 * MIB, 50 * MIB)).isEqualTo(Duration.ofMillis(500));
    }

    @Test
    void aCopyWithNothingToGoIsLookedAtAtOnceSoItsBindingDropsTheFillingReplica() {
        assertThat(CopyPace.start(0, 0).next(SECOND, 100 * MIB, 0)).isEqualTo(CopyPace.NOW);
    }

    @Test
    void aCopyWithNoRateYetIsLookedAtSoon() {
        assertThat(CopyPace.start(0, 10 * MIB).next(SECOND, 10 * MIB, 50 * MIB)).isEqualTo(CopyPace.FIRST);
        assertThat(CopyPace.start(5, 0).next(5, 0, 50 * MIB)).isEqualTo(CopyPace.FIRST);
    }

    @Test
    void theNextLookIsNeverSoonerThanTheShortestNorLaterThanTheLongest() {
        CopyPace pace = CopyPace.start(0, 0);
        assertThat(pace.next(SECOND, 1000 * MIB, MIB)).isEqualTo(CopyPace.SHORTEST);
        assertThat(pace.next(SECOND, MIB, 1000 * MIB)).isEqualTo(CopyPace.LONGEST);
    }
}
