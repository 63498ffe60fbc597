package dev.farmem.client.cache;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class DirtyLineMaskTest {

    @Test
    void bitsInWordCoverExactlyTheLinesOfTheRangeInThatWord() {
        assertThat(DirtyLineMask.bitsInWord(0, 0, 1)).isEqualTo(1L);
        assertThat(DirtyLineMask.bitsInWord(0, 3, 5)).isEqualTo(0b11000L);
        assertThat(DirtyLineMask.bitsInWord(0, 0, 64)).isEqualTo(-1L);
        assertThat(DirtyLineMask.bitsInWord(0, 60, 70)).isEqualTo(0xFL << 60);
        assertThat(DirtyLineMask.bitsInWord(1, 60, 70)).isEqualTo(0b111111L);
        assertThat(DirtyLineMask.bitsInWord(1, 0, 64)).isZero();
    }

    @Test
    void runsCoalesceAdjacentLinesAndKeepGapsApart() {
        long[] mask = {0b1110_0000_0110_0001L | (1L << 63), 0b1L};
        int[] start = new int[128];
        int[] len = new int[128];
        int n = DirtyLineMask.runs(mask, 128, start, len);
        assertThat(n).isEqualTo(4);
        assertThat(new int[] {start[0], len[0], start[1], len[1], start[2], len[2], start[3], len[3]})
                .containsExactly(0, 1, 5, 2, 13, 3, 63, 2); // the last run crosses into the second word
    }

    @Test
    void aFullMaskIsOneRunAndAnEmptyMaskNone() {
        int[] start = new int[64];
        int[] len = new int[64];
        assertThat(DirtyLineMask.runs(new long[] {-1L}, 64, start, len)).isEqualTo(1);
        assertThat(len[0]).isEqualTo(64);
        assertThat(DirtyLineMask.runs(new long[] {0L}, 64, start, len)).isZero();
    }

    @Test
    void runsStopAtTheBlocksLineCount() {
        int[] start = new int[16];
        int[] len = new int[16];
        assertThat(DirtyLineMask.runs(new long[] {-1L}, 16, start, len)).isEqualTo(1);
        assertThat(len[0]).isEqualTo(16);
    }

    @Test
    void widenTurnsEachDirtyLineIntoItsWholeTrackingUnit() {
        long[] m = {0b1000_0000_0001L};
        DirtyLineMask.widen(m, 1, 4); // 256-byte units
        assertThat(m[0]).isEqualTo(0b1111_0000_1111L);

        long[] page = {1L << 17};
        DirtyLineMask.widen(page, 1, 64); // 4 KiB page tracking of a 4 KiB block
        assertThat(page[0]).isEqualTo(-1L);

        long[] big = {0, 1L << 5, 0, 0};
        DirtyLineMask.widen(big, 4, 128); // two words per unit
        assertThat(big).containsExactly(-1L, -1L, 0, 0);

        long[] line = {0b101L};
        DirtyLineMask.widen(line, 1, 1);
        assertThat(line[0]).isEqualTo(0b101L);
    }

    @Test
    void nextSetAndNextClearWalkAcrossWords() {
        long[] m = {0, 1L << 3};
        assertThat(DirtyLineMask.nextSet(m, 2, 0)).isEqualTo(67);
        assertThat(DirtyLineMask.nextSet(m, 2, 68)).isEqualTo(-1);
        assertThat(DirtyLineMask.nextClear(new long[] {-1L, 0b11L}, 2, 10)).isEqualTo(66);
        assertThat(DirtyLineMask.nextClear(new long[] {-1L}, 1, 0)).isEqualTo(64);
    }
}
