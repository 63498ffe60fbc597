package dev.farmem.bench.workload;

/**
 * Operation latencies in log-linear buckets (8 per power of two, within 12.5 %), enough for
 * p50 and p99 without keeping every sample. One per thread; {@link #add} merges them.
 */
public final class LatencyHistogram {

    private static final int SUB = 8;
    private final long[] counts = new long[64 * SUB];
    private long total;

    public void record(long nanos) {
        counts[bucket(Math.max(1, nanos))]++;
        total++;
    }

    static int bucket(long v) {
        int exp = 63 - Long.numberOfLeadingZeros(v);
        if (exp < 3) return (int) v;
        int sub = (int) ((v >>> (exp - 3)) & (SUB - 1));
        return exp * SUB + sub;
    }

    static long lowerBound(int bucket) {
        int exp = bucket / SUB;
        if (exp < 3) return bucket;
        return (1L << exp) | ((long) (bucket % SUB) << (exp - 3));
    }

    public void add(LatencyHistogram other) {
        for (int i = 0; i < counts.length; i++) counts[i] += other.counts[i];
        total += other.total;
    }

    public long count() {
        return total;
    }

    /** The latency at quantile {@code q} (0..1), as the lower bound of its bucket; 0 if empty. */
    public long quantile(double q) {
        if (total == 0) return 0;
        long rank = (long) Math.ceil(q * total);
        long seen = 0;
        for (int i = 0; i < counts.length; i++) {
            seen += counts[i];
            if (seen >= rank && counts[i] > 0) return lowerBound(i);
        }
        return lowerBound(counts.length - 1);
    }
}
