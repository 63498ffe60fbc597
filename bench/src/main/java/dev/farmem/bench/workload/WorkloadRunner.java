package dev.farmem.bench.workload;

import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.transport.binding.Binding;
import dev.farmem.transport.tcp.NettyTransport;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runs one workload on a fresh cache over a bound claim: warm the cache, run for a while,
 * flush, and report the counters of the measured part (the final flush included, so every
 * dirty byte of the run is counted as written back).
 */
public final class WorkloadRunner {

    /** What to run. {@code trackingGranularity} is 64 for line tracking, the block size for page tracking. */
    public record Config(Workload workload, long cacheBytes, int trackingGranularity, int threads,
                         double warmupSeconds, double seconds, long seed, long linkMbps) {}

    private WorkloadRunner() {}

    public static String trackingName(int granularity, int blockSize) {
        return granularity == 64 ? "line" : granularity >= blockSize ? "page" : granularity + "B";
    }

    public static RunResult run(Binding binding, Config c) throws InterruptedException {
        FarMemoryOptions options = FarMemoryOptions.defaults().cacheBytes(c.cacheBytes()).trackingGranularity(c.trackingGranularity());
        ZipfGenerator zipf = c.workload().zipfFor(binding.sizeBytes());
        EmulatedLink link = c.linkMbps() > 0 ? new EmulatedLink(new NettyTransport(), c.linkMbps()) : null;
        if (link != null) options.transport(() -> link);
        try (link; FarMemory mem = FarMemory.open(binding, options)) {
            FarBuffer buf = mem.buffer();
            warmCache(buf, Math.min(mem.cacheBytes(), mem.size()));
            drive(buf, c, zipf, c.warmupSeconds(), c.seed() + 1);
            mem.flush();
            ClientMetrics.Snapshot before = mem.stats();
            Drive measured = drive(buf, c, zipf, c.seconds(), c.seed());
            mem.flush();
            ClientMetrics.Snapshot s = mem.stats().minus(before);
            return new RunResult(c.workload().id(), trackingName(c.trackingGranularity(), mem.blockSize()), mem.size(),
                    mem.cacheBytes(), c.threads(), measured.ops, measured.seconds, measured.ops / measured.seconds, s.hitRatio(),
                    s.fetchedBytes(), s.writtenBackBytes(), s.writtenBackLines(), s.lineIdealBytes(), s.writebackVsLineIdeal(),
                    s.evictions(), measured.latency.quantile(0.5), measured.latency.quantile(0.99));
        }
    }

    /**
     * The load phase (as YCSB's): writes every byte of the claim once and flushes, so that the
     * agents' memory is touched and the JIT is warm before anything is measured; otherwise the
     * first run of a comparison pays for both and looks slower.
     */
    public static void load(Binding binding, long seed) {
        try (FarMemory mem = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(Math.min(64L << 20, binding.sizeBytes())))) {
            byte[] chunk = new byte[64 * 1024];
            new java.util.SplittableRandom(seed).nextBytes(chunk);
            FarBuffer buf = mem.buffer();
            for (long at = 0; at < mem.size(); at += chunk.length) buf.put(at, chunk, 0, (int) Math.min(chunk.length, mem.size() - at));
            mem.flush();
        }
    }

    /** Loads the first {@code bytes} of far memory, as an application's start would. */
    private static void warmCache(FarBuffer buf, long bytes) {
        byte[] chunk = new byte[4096];
        for (long at = 0; at + chunk.length <= bytes; at += chunk.length) buf.get(at, chunk);
    }

    private record Drive(long ops, double seconds, LatencyHistogram latency) {}

    private static Drive drive(FarBuffer buf, Config c, ZipfGenerator zipf, double seconds, long seed) throws InterruptedException {
        if (seconds <= 0) return new Drive(0, 0, new LatencyHistogram());
        long size = buf.size();
        long[] ops = new long[c.threads()];
        LatencyHistogram[] latency = new LatencyHistogram[c.threads()];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        for (int t = 0; t < c.threads(); t++) {
            int me = t;
            latency[t] = new LatencyHistogram();
            Workload.Stream stream = c.workload().stream(size, seed, me, c.threads(), zipf);
            Thread th = new Thread(() -> {
                LatencyHistogram h = latency[me];
                long n = 0;
                try {
                    long now = System.nanoTime();
                    while (now < end) {
                        stream.step(buf);
                        long after = System.nanoTime();
                        h.record(after - now);
                        now = after;
                        n++;
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
                ops[me] = n;
            }, "workload-" + c.workload().id() + "-" + t);
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) th.join();
        double elapsed = (System.nanoTime() - start) / 1e9;
        if (failure.get() != null) throw new IllegalStateException("workload " + c.workload().id() + " failed: " + failure.get(), failure.get());
        LatencyHistogram all = new LatencyHistogram();
        long total = 0;
        for (int t = 0; t < c.threads(); t++) {
            all.add(latency[t]);
            total += ops[t];
        }
        return new Drive(total, elapsed, all);
    }
}
