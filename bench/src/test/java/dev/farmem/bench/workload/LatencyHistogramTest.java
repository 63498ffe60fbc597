package dev.farmem.bench.workload;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class LatencyHistogramTest {

    @Test
    void quantilesAreWithinOneBucketOfTheTruth() {
        LatencyHistogram h = new LatencyHistogram();
        for (int i = 1; i <= 1000; i++) h.record(i * 1000L); // 1 us .. 1 ms
        assertThat(h.count()).isEqualTo(1000);
        assertThat(h.quantile(0.5)).isBetween(500_000L * 7 / 8, 500_000L);
        assertThat(h.quantile(0.99)).isBetween(990_000L * 7 / 8, 990_000L);
    }

    @Test
    void mergingAddsCounts() {
        LatencyHistogram a = new LatencyHistogram();
        LatencyHistogram b = new LatencyHistogram();
        a.record(10);
        b.record(1_000_000);
        b.record(1_000_000);
        a.add(b);
        assertThat(a.count()).isEqualTo(3);
        assertThat(a.quantile(0.5)).isGreaterThan(800_000);
        assertThat(new LatencyHistogram().quantile(0.5)).isZero();
    }
}
