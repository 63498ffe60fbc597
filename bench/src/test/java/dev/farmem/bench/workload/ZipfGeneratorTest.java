package dev.farmem.bench.workload;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ZipfGeneratorTest {

    @Test
    void theMostPopularRanksTakeTheShareZipfPredicts() {
        ZipfGenerator z = new ZipfGenerator(100_000, 0.99);
        SplittableRandom rnd = new SplittableRandom(3);
        int n = 200_000;
        int rank0 = 0;
        int top100 = 0;
        for (int i = 0; i < n; i++) {
            long r = z.nextRank(rnd);
            assertThat(r).isBetween(0L, 99_999L);
            if (r == 0) rank0++;
            if (r < 100) top100++;
        }
        // with theta 0.99 over 1e5 items, H(1e5, 0.99) ~ 12.9: rank 0 ~ 7.8 %, the first 100 ~ 40 %
        assertThat(rank0 / (double) n).isBetween(0.06, 0.10);
        assertThat(top100 / (double) n).isBetween(0.33, 0.47);
    }

    @Test
    void scramblingSpreadsTheHotItemsOverTheKeySpace() {
        ZipfGenerator z = new ZipfGenerator(1 << 20, 0.99);
        SplittableRandom rnd = new SplittableRandom(5);
        int low = 0;
        for (int i = 0; i < 100_000; i++) if (z.next(rnd) < (1 << 19)) low++;
        assertThat(low / 100_000.0).isBetween(0.3, 0.7); // not all in the first half, as unscrambled ranks would be
    }
}
