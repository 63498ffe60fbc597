package dev.farmem.bench.workload;

import java.util.SplittableRandom;

/**
 * Zipf-distributed item numbers over {@code [0, n)} as in YCSB (Gray et al., "Quickly
 * generating billion-record synthetic databases"), scrambled with FNV-1a so that the hot items
 * are spread over the whole key space instead of sitting in the first blocks.
 */
public final class ZipfGenerator {

    private final long n;
    private final double theta;
    private final double alpha;
    private final double zetan;
    private final double eta;

    public ZipfGenerator(long n, double theta) {
        if (n < 2) throw new IllegalArgumentException("a Zipf distribution needs at least 2 items, got " + n);
        this.n = n;
        this.theta = theta;
        double zeta2 = 1 + Math.pow(0.5, theta);
        double z = 0;
        for (long i = 1; i <= n; i++) z += 1 / Math.pow(i, theta);
        this.zetan = z;
        this.alpha = 1 / (1 - theta);
        this.eta = (1 - Math.pow(2.0 / n, 1 - theta)) / (1 - zeta2 / zetan);
    }

    /** The rank drawn (0 is the most popular), not scrambled. */
    public long nextRank(SplittableRandom rnd) {
        double u = rnd.nextDouble();
        double uz = u * zetan;
        if (uz < 1) return 0;
        if (uz < 1 + Math.pow(0.5, theta)) return 1;
        return Math.min(n - 1, (long) (n * Math.pow(eta * u - eta + 1, alpha)));
    }

    /** An item number: the rank, scrambled over {@code [0, n)}. */
    public long next(SplittableRandom rnd) {
        return Long.remainderUnsigned(fnv(nextRank(rnd)), n);
    }

    private static long fnv(long v) {
        long h = 0xCBF29CE484222325L;
        for (int i = 0; i < 8; i++) {
            h ^= v & 0xFF;
            h *= 0x100000001B3L;
            v >>>= 8;
        }
        return h;
    }
}
