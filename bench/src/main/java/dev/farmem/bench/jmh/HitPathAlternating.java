package dev.farmem.bench.jmh;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code ./farmem bench jmh --alternate}: the accesses of {@link HitPathBenchmark}, far and plain
 * alternating in short slices on one thread, and the median of the per-round ratios. JMH runs
 * the far and the plain benchmark one after the other, minutes apart, so on a machine shared with
 * other builds its ratio measures the load as much as the code; here both sides of a ratio see
 * the same load. The loops are plain Java loops (the sum of the values read is kept, so nothing
 * is optimized away); JMH's per-call harness is not there, so absolute figures are a little lower.
 */
final class HitPathAlternating {

    private static final int OFFSETS = 1 << 20;
    static volatile long sink;

    private HitPathAlternating() {}

    static void run(long bytes, int rounds) {
        long slab = Math.min(64L << 20, bytes);
        try (EmbeddedPool pool = EmbeddedPool.start(1, bytes, slab);
             FarMemory memory = FarMemory.open(pool.bind("alternate", bytes, 1, 4096),
                     FarMemoryOptions.defaults().cacheBytes(bytes).backgroundFlusher(false))) {
            FarBuffer far = memory.buffer();
            ByteBuffer plain = ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
            byte[] chunk = new byte[1 << 16];
            for (long at = 0; at < bytes; at += chunk.length) far.get(at, chunk); // every block in the cache
            long[] offsets = new long[OFFSETS];
            SplittableRandom rnd = new SplittableRandom(1);
            for (int i = 0; i < OFFSETS; i++) offsets[i] = rnd.nextLong(bytes >>> 3) << 3;
            if (memory.stats().evictions() != 0) throw new IllegalStateException("the far memory does not fit the cache: the hit path would not be measured");
            Access[] pairs = {
                (f, n, at) -> { if (f) farRandomRead(far, offsets, at, n); else plainRandomRead(plain, offsets, at, n); },
                (f, n, at) -> { if (f) farSequentialRead(far, bytes, at, n); else plainSequentialRead(plain, bytes, at, n); },
                (f, n, at) -> { if (f) farRandomWrite(far, offsets, at, n); else plainRandomWrite(plain, offsets, at, n); },
                (f, n, at) -> { if (f) farSequentialWrite(far, bytes, at, n); else plainSequentialWrite(plain, bytes, at, n); },
            };
            String[] names = {"random     8-byte reads: ", "sequential 8-byte reads: ", "random     8-byte writes:", "sequential 8-byte writes:"};
            String[] targets = {"target <= 1.5x", "target <= 2x", "report", "report"};
            int[] slice = {1 << 13, 1 << 16, 1 << 13, 1 << 16}; // about a millisecond of far accesses: most slices run between two preemptions
            System.out.printf(Locale.ROOT, "alternating far and plain in slices, %d rounds per figure: the median of the per-round ratios [their range],"
                    + " and the ratio of each side's fastest slice (the least disturbed one)%n", rounds);
            for (int k = 0; k < pairs.length; k++) {
                for (int w = 0; w < 20; w++) { // warm-up: the JIT compiles both sides
                    pairs[k].run(true, slice[k], w * (long) slice[k]);
                    pairs[k].run(false, slice[k], w * (long) slice[k]);
                }
                double[] farNs = new double[rounds];
                double[] plainNs = new double[rounds];
                double[] ratio = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    long at = (long) r * slice[k];
                    for (int side = 0; side < 2; side++) {
                        boolean isFar = (r + side) % 2 == 0;
                        long t0 = System.nanoTime();
                        pairs[k].run(isFar, slice[k], at);
                        double ns = (System.nanoTime() - t0) / (double) slice[k];
                        if (isFar) farNs[r] = ns; else plainNs[r] = ns;
                    }
                    ratio[r] = farNs[r] / plainNs[r];
                }
                double[] sorted = ratio.clone();
                Arrays.sort(sorted);
                double farMin = Arrays.stream(farNs).min().orElseThrow();
                double plainMin = Arrays.stream(plainNs).min().orElseThrow();
                System.out.printf(Locale.ROOT, "hit path, %s far %.2f ns/op, plain off-heap %.2f ns/op (medians), ratio %.2fx [%.2f-%.2f];"
                                + " fastest slices %.2f vs %.2f ns/op, ratio %.2fx  (%s)%n",
                        names[k], median(farNs), median(plainNs), median(ratio), sorted[0], sorted[rounds - 1], farMin, plainMin, farMin / plainMin, targets[k]);
            }
        }
    }

    private interface Access {
        void run(boolean far, int n, long at);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }

    private static void farRandomRead(FarBuffer far, long[] offsets, long at, int n) {
        long sum = 0;
        for (int i = 0; i < n; i++) sum += far.getLong(offsets[(int) (at + i) & (OFFSETS - 1)]);
        sink = sum;
    }

    private static void plainRandomRead(ByteBuffer plain, long[] offsets, long at, int n) {
        long sum = 0;
        for (int i = 0; i < n; i++) sum += plain.getLong((int) offsets[(int) (at + i) & (OFFSETS - 1)]);
        sink = sum;
    }

    private static void farSequentialRead(FarBuffer far, long bytes, long at, int n) {
        long sum = 0;
        long p = (at << 3) % bytes;
        for (int i = 0; i < n; i++) {
            sum += far.getLong(p);
            p = p + 8 == bytes ? 0 : p + 8;
        }
        sink = sum;
    }

    private static void plainSequentialRead(ByteBuffer plain, long bytes, long at, int n) {
        long sum = 0;
        long p = (at << 3) % bytes;
        for (int i = 0; i < n; i++) {
            sum += plain.getLong((int) p);
            p = p + 8 == bytes ? 0 : p + 8;
        }
        sink = sum;
    }

    private static void farRandomWrite(FarBuffer far, long[] offsets, long at, int n) {
        for (int i = 0; i < n; i++) far.putLong(offsets[(int) (at + i) & (OFFSETS - 1)], i);
    }

    private static void plainRandomWrite(ByteBuffer plain, long[] offsets, long at, int n) {
        for (int i = 0; i < n; i++) plain.putLong((int) offsets[(int) (at + i) & (OFFSETS - 1)], i);
    }

    private static void farSequentialWrite(FarBuffer far, long bytes, long at, int n) {
        long p = (at << 3) % bytes;
        for (int i = 0; i < n; i++) {
            far.putLong(p, i);
            p = p + 8 == bytes ? 0 : p + 8;
        }
    }

    private static void plainSequentialWrite(ByteBuffer plain, long bytes, long at, int n) {
        long p = (at << 3) % bytes;
        for (int i = 0; i < n; i++) {
            plain.putLong((int) p, i);
            p = p + 8 == bytes ? 0 : p + 8;
        }
    }
}
