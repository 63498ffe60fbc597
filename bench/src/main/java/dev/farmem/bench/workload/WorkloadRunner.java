package dev.farmem.bench.workload;

import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.tcp.NettyTransport;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;

/**
 * Runs one workload on a fresh cache over a bound claim: warm the cache, run for a while,
 * flush, and report the counters of the measured part (the final flush included, so every
 * dirty byte of the run is counted as written back).
 */
public final class WorkloadRunner {

    /**
     * What to run. {@code trackingGranularity} is 64 for line tracking, the block size for page
     * tracking. With {@code virtualThreads} the application threads are virtual threads (Java 21+).
     */
    public record Config(Workload workload, long cacheBytes, int trackingGranularity, int threads,
                         double warmupSeconds, double seconds, long seed, long linkMbps, boolean virtualThreads) {
        public Config(Workload workload, long cacheBytes, int trackingGranularity, int threads,
                      double warmupSeconds, double seconds, long seed, long linkMbps) {
            this(workload, cacheBytes, trackingGranularity, threads, warmupSeconds, seconds, seed, linkMbps, false);
        }

        public Config withThreads(int threads, boolean virtual) {
            return new Config(workload, cacheBytes, trackingGranularity, threads, warmupSeconds, seconds, seed, linkMbps, virtual);
        }
    }

    private WorkloadRunner() {}

    public static String trackingName(int granularity, int blockSize) {
        return granularity == 64 ? "line" : granularity >= blockSize ? "page" : granularity + "B";
    }

    public static RunResult run(Binding binding, Config c) throws InterruptedException {
        return measure(binding, c).result();
    }

    /** A run's summary, and the latency of every operation of its measured part (what the sweep's plots need). */
    public record Measured(RunResult result, Histogram latency) {}

    /** As {@link #run}, keeping the measured part's latency histogram. */
    public static Measured measure(Binding binding, Config c) throws InterruptedException {
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
            return new Measured(result(c.workload().id(), c, mem, measured, s), measured.latency);
        }
    }

    private static RunResult result(String workload, Config c, FarMemory mem, Drive measured, ClientMetrics.Snapshot s) {
        return new RunResult(workload, trackingName(c.trackingGranularity(), mem.blockSize()), mem.size(),
                mem.cacheBytes(), c.threads(), measured.ops, measured.seconds, measured.ops / measured.seconds, s.hitRatio(),
                s.fetchedBytes(), s.writtenBackBytes(), s.writtenBackLines(), s.lineIdealBytes(), s.writebackVsLineIdeal(),
                s.evictions(), measured.latency.getValueAtPercentile(50), measured.latency.getValueAtPercentile(99));
    }

    /**
     * Random 8-byte reads at Zipf 0.99 over the 1 KiB records of the zipf workload (a random long
     * of the record), read one {@code getLong} at a time ({@code batch} 1) or {@code batch} at a
     * time with {@code FarBuffer.getLongs}, whose misses are in flight together. An operation is
     * one 8-byte read either way; the latency recorded is that of a step (one call). With it, what
     * the whole process spent per miss of the measured part: CPU microseconds and context switches.
     */
    public static ReadRun runReads(Binding binding, Config c, int batch) throws InterruptedException {
        FarMemoryOptions options = FarMemoryOptions.defaults().cacheBytes(c.cacheBytes()).trackingGranularity(c.trackingGranularity());
        ZipfGenerator zipf = Workload.ZIPF.zipfFor(binding.sizeBytes());
        EmulatedLink link = c.linkMbps() > 0 ? new EmulatedLink(new NettyTransport(), c.linkMbps()) : null;
        if (link != null) options.transport(() -> link);
        StreamFactory reads = (size, seed, thread, threads) -> {
            SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + thread);
            if (batch == 1) return buf -> buf.getLong(zipf.next(rnd) * Workload.RECORD + ((long) rnd.nextInt(Workload.RECORD / 8) << 3));
            long[] at = new long[batch];
            long[] out = new long[batch];
            return buf -> {
                for (int i = 0; i < batch; i++) at[i] = zipf.next(rnd) * Workload.RECORD + ((long) rnd.nextInt(Workload.RECORD / 8) << 3);
                buf.getLongs(at, out);
            };
        };
        try (link; FarMemory mem = FarMemory.open(binding, options)) {
            FarBuffer buf = mem.buffer();
            warmCache(buf, Math.min(mem.cacheBytes(), mem.size()));
            drive(buf, c, reads, batch, c.warmupSeconds(), c.seed() + 1);
            ClientMetrics.Snapshot before = mem.stats();
            ProcessCost start = ProcessCost.now();
            Drive measured = drive(buf, c, reads, batch, c.seconds(), c.seed());
            double[] perMiss = ProcessCost.now().since(start, Math.max(1, mem.stats().minus(before).misses()));
            ClientMetrics.Snapshot s = mem.stats().minus(before);
            return new ReadRun(result(batch == 1 ? "zipf-get" : "zipf-get-" + batch, c, mem, measured, s), perMiss[0], perMiss[1]);
        }
    }

    /** A read run, and what the process spent per miss in its measured part (NaN switches where /proc has none). */
    public record ReadRun(RunResult result, double cpuMicrosPerMiss, double switchesPerMiss) {}

    /**
     * The load phase (as YCSB's): writes every byte of the claim once and flushes, so that the
     * agents' memory is touched and the JIT is warm before anything is measured; otherwise the
     * first run of a comparison pays for both and looks slower.
     */
    public static void load(Binding binding, long seed) {
        try (FarMemory mem = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(Math.min(64L << 20, binding.sizeBytes())))) {
            byte[] chunk = new byte[64 * 1024];
            new SplittableRandom(seed).nextBytes(chunk);
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

    private record Drive(long ops, double seconds, Histogram latency) {}

    /** Makes the operation stream of one thread. */
    private interface StreamFactory {
        Workload.Stream stream(long size, long seed, int thread, int threads);
    }

    private static Drive drive(FarBuffer buf, Config c, ZipfGenerator zipf, double seconds, long seed) throws InterruptedException {
        return drive(buf, c, (size, s, thread, threads) -> c.workload().stream(size, s, thread, threads, zipf), 1, seconds, seed);
    }

    /** Runs the threads' streams for {@code seconds}; each step is {@code opsPerStep} operations. */
    private static Drive drive(FarBuffer buf, Config c, StreamFactory streams, int opsPerStep, double seconds, long seed) throws InterruptedException {
        if (seconds <= 0) return new Drive(0, 0, new Histogram(3));
        long size = buf.size();
        long[] ops = new long[c.threads()];
        Histogram[] latency = new Histogram[c.threads()];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        long start = System.nanoTime();
        long end = start + (long) (seconds * 1e9);
        for (int t = 0; t < c.threads(); t++) {
            int me = t;
            latency[t] = new Histogram(3);
            Workload.Stream stream = streams.stream(size, seed, me, c.threads());
            Thread th = newThread(c.virtualThreads(), "workload-" + c.workload().id() + "-" + t, () -> {
                Histogram h = latency[me];
                long n = 0;
                try {
                    long now = System.nanoTime();
                    while (now < end) {
                        stream.step(buf);
                        long after = System.nanoTime();
                        h.recordValue(after - now);
                        now = after;
                        n += opsPerStep;
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
                ops[me] = n;
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) th.join();
        double elapsed = (System.nanoTime() - start) / 1e9;
        if (failure.get() != null) throw new IllegalStateException("workload " + c.workload().id() + " failed: " + failure.get(), failure.get());
        Histogram all = new Histogram(3);
        long total = 0;
        for (int t = 0; t < c.threads(); t++) {
            all.add(latency[t]);
            total += ops[t];
        }
        return new Drive(total, elapsed, all);
    }

    /**
     * A platform thread, or a virtual one through the Java 21 API found reflectively: this module
     * is built for Java 17, and the bench only needs {@code Thread.ofVirtual().name(..).unstarted(..)}.
     */
    static Thread newThread(boolean virtual, String name, Runnable body) {
        if (!virtual) return new Thread(body, name);
        try {
            Class<?> builder = Class.forName("java.lang.Thread$Builder");
            Object b = Thread.class.getMethod("ofVirtual").invoke(null);
            b = builder.getMethod("name", String.class).invoke(b, name);
            return (Thread) builder.getMethod("unstarted", Runnable.class).invoke(b, body);
        } catch (ClassNotFoundException | NoSuchMethodException e) {
            throw new IllegalStateException("virtual threads need Java 21 or later, and this JVM is " + Runtime.version()
                    + ": run the bench jar with a newer java (for example /usr/lib/jvm/temurin-25-jdk-amd64/bin/java -jar bench/target/farmem-bench.jar bench workloads ...)", e);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot create a virtual thread: " + e, e);
        }
    }
}
