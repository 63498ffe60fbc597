package dev.farmem.bench.sweep;

import dev.farmem.bench.workload.RunResult;
import dev.farmem.bench.workload.WorkloadRunner;
import java.util.Locale;
import org.HdrHistogram.Histogram;

/**
 * One point of the sweep: one tracking granularity at one cache size, and what it cost.
 * Latencies are in nanoseconds.
 */
public record SweepPoint(String tracking, int cachePercent, double opsPerSec, double writtenBackBytesPerOp, double hitRatio,
                         long hitP50, long hitP90, long hitP99) {

    static final String CSV_HEADER = "tracking,cache_percent,ops_per_sec,written_back_bytes_per_op,hit_ratio,hit_p50_us,hit_p90_us,hit_p99_us";

    /**
     * The point of one measured run. Hit latency percentiles are read off the operations'
     * latency: a hit costs well under a microsecond and a miss tens of microseconds, so the
     * fastest {@code hitRatio} of the operations are the hits, and the hits' percentile p is
     * the operations' percentile {@code p * hitRatio}. That holds for workloads of one cache
     * access per operation (zipf, uniform, scan); for sparse-write, whose updates touch up to 8
     * lines, it is an estimate.
     */
    static SweepPoint of(int cachePercent, WorkloadRunner.Measured m) {
        RunResult r = m.result();
        Histogram h = m.latency();
        double hits = r.hitRatio();
        return new SweepPoint(r.tracking(), cachePercent, r.opsPerSec(), r.ops() == 0 ? 0 : (double) r.bytesWrittenBack() / r.ops(), hits,
                hitPercentile(h, hits, 50), hitPercentile(h, hits, 90), hitPercentile(h, hits, 99));
    }

    static long hitPercentile(Histogram operations, double hitRatio, double percentile) {
        if (operations.getTotalCount() == 0 || hitRatio <= 0) return 0;
        return operations.getValueAtPercentile(percentile * hitRatio);
    }

    String csv() {
        return String.format(Locale.ROOT, "%s,%d,%.1f,%.2f,%.4f,%.3f,%.3f,%.3f", tracking, cachePercent, opsPerSec, writtenBackBytesPerOp, hitRatio,
                hitP50 / 1e3, hitP90 / 1e3, hitP99 / 1e3);
    }
}
