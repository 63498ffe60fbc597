package dev.farmem.bench.workload;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.LinkedHashMap;
import java.util.Map;

/** The summary of one workload run: what ran and what it cost. */
public record RunResult(
        String workload,
        String tracking,
        long sizeBytes,
        long cacheBytes,
        int threads,
        long ops,
        double seconds,
        double opsPerSec,
        double hitRatio,
        long bytesFetched,
        long bytesWrittenBack,
        long linesWrittenBack,
        long lineIdealBytes,
        double writebackVsLineIdeal,
        long evictions,
        long p50Nanos,
        long p99Nanos) {

    private static final ObjectMapper JSON = new ObjectMapper();

    /** One JSON object on one line, with the keys of the demo's contract. */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("workload", workload);
        m.put("tracking", tracking);
        m.put("size_bytes", sizeBytes);
        m.put("cache_bytes", cacheBytes);
        m.put("threads", threads);
        m.put("ops", ops);
        m.put("seconds", round(seconds, 3));
        m.put("ops_per_sec", round(opsPerSec, 1));
        m.put("hit_ratio", round(hitRatio, 4));
        m.put("bytes_fetched", bytesFetched);
        m.put("bytes_written_back", bytesWrittenBack);
        m.put("lines_written_back", linesWrittenBack);
        m.put("line_ideal_bytes", lineIdealBytes);
        m.put("writeback_vs_line_ideal", round(writebackVsLineIdeal, 4));
        m.put("evictions", evictions);
        m.put("p50_us", round(p50Nanos / 1e3, 2));
        m.put("p99_us", round(p99Nanos / 1e3, 2));
        try {
            return JSON.writeValueAsString(m);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static double round(double v, int digits) {
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }
}
