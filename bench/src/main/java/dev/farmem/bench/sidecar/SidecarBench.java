package dev.farmem.bench.sidecar;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.bench.workload.WorkloadBench;
import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.sidecar.Sidecar;
import dev.farmem.client.sidecar.SidecarMain;
import dev.farmem.client.sidecar.SidecarOptions;
import dev.farmem.common.ByteSize;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import java.util.stream.Stream;
import org.HdrHistogram.Histogram;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./farmem bench sidecar}: what sidecar mode costs the application, side by side with
 * in-process mode in one run. (1) The hit path, JMH: random and sequential 8-byte reads and
 * writes of a wholly cached far memory attached to a sidecar, of the same in-process, and of a
 * plain off-heap buffer. (2) A miss: a random 4 KiB block fetched at queue depth 1 through a sidecar
 * in another JVM vs by the in-process engine, alternating rounds, same agent, same seed.
 */
public final class SidecarBench {

    @Command(name = "./farmem bench sidecar", sortOptions = false,
            description = {"What sidecar mode costs the application, side by side with in-process mode in one run.", ""})
    static final class Flags {
        @Option(names = "--size", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "256MiB",
                description = "far memory for the hit path, all of it cached, 4MiB..1GiB")
        long size;
        @Option(names = "--iterations", paramLabel = "N", defaultValue = "3", description = "JMH measured iterations, after 2 warm-up iterations")
        int iterations;
        @Option(names = "--seconds", paramLabel = "N", defaultValue = "1", description = "seconds per JMH iteration")
        int seconds;
        @Option(names = "--misses", paramLabel = "N", defaultValue = "2000", description = "misses per mode per round")
        int misses;
        @Option(names = "--rounds", paramLabel = "N", defaultValue = "5", description = "alternating miss rounds")
        int rounds;
        @Option(names = "--warmup", paramLabel = "N", defaultValue = "20000",
                description = "misses per mode before the rounds, so both JVMs have compiled the path")
        int warmup;
        @Option(names = "--part", paramLabel = "P", defaultValue = "all", description = "hit, miss or all")
        String part;
        @Option(names = "--poll-micros", paramLabel = "N", description = "the polling sidecar's --poll-micros (default: the sidecar's default)")
        Long pollMicros;

        /** The flags checked; throws IllegalArgumentException saying which value is wrong. */
        Flags checked() {
            if (!Set.of("hit", "miss", "all").contains(part)) throw new IllegalArgumentException("--part must be hit, miss or all, got " + part);
            if (size < (4L << 20) || size > (1L << 30)) throw new IllegalArgumentException("--size must be in 4MiB..1GiB, got " + ByteSize.format(size));
            Cli.inRange("--seconds", seconds, 1, 60);
            Cli.inRange("--iterations", iterations, 1, 100);
            Cli.inRange("--misses", misses, 10, 1_000_000);
            Cli.inRange("--rounds", rounds, 1, 100);
            Cli.inRange("--warmup", warmup, 0, 1_000_000);
            if (pollMicros == null) pollMicros = SidecarOptions.defaults().pollMicros();
            Cli.inRange("--poll-micros", pollMicros, 0, 10_000);
            return this;
        }
    }

    private SidecarBench() {}

    public static void main(String[] args) throws Exception {
        Flags f = Cli.of(new Flags(), EnvironmentDefaults.NONE).parseOrExit(args, Flags::checked);
        System.out.println(WorkloadBench.machine());
        if (!f.part.equals("miss")) {
            hitPath(f.size, f.seconds, f.iterations);
            hitPathCpuTime(f.size, f.rounds);
        }
        if (!f.part.equals("hit")) missPath(f.misses, f.rounds, f.warmup, f.pollMicros);
    }

    // ---- (1) the hit path --------------------------------------------------------------

    private static void hitPath(long size, int seconds, int iterations) throws Exception {
        Collection<RunResult> results = new Runner(new OptionsBuilder()
                .include("SidecarBench.HitPath")
                .param("size", ByteSize.format(size))
                .forks(1)
                .jvmArgsAppend("-XX:MaxDirectMemorySize=" + (6 * size + (256L << 20)))
                .warmupIterations(2).warmupTime(TimeValue.seconds(seconds))
                .measurementIterations(iterations).measurementTime(TimeValue.seconds(seconds))
                .threads(1)
                .build()).run();
        Map<String, double[]> s = new HashMap<>();
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark();
            s.put(name.substring(name.lastIndexOf('.') + 1), new double[] {r.getPrimaryResult().getScore(), r.getPrimaryResult().getScoreError()});
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "hit path, random 8-byte reads over %s: sidecar mode %s, in-process %s, plain off-heap %s ns/op%n",
                ByteSize.format(size), fmt(s.get("sidecarRead")), fmt(s.get("inProcessRead")), fmt(s.get("plainRead")));
        System.out.printf(Locale.ROOT, "  read  ratio sidecar / in-process: %.2fx   (in-process / plain %.2fx, sidecar / plain %.2fx)%n",
                s.get("sidecarRead")[0] / s.get("inProcessRead")[0], s.get("inProcessRead")[0] / s.get("plainRead")[0],
                s.get("sidecarRead")[0] / s.get("plainRead")[0]);
        System.out.printf(Locale.ROOT, "hit path, random 8-byte writes: sidecar mode %s, in-process %s ns/op; ratio sidecar / in-process: %.2fx%n",
                fmt(s.get("sidecarWrite")), fmt(s.get("inProcessWrite")), s.get("sidecarWrite")[0] / s.get("inProcessWrite")[0]);
        String[][] rows = {
            {"random     reads ", "sidecarRead", "inProcessRead", "plainRead"},
            {"random     writes", "sidecarWrite", "inProcessWrite", "plainWrite"},
            {"sequential reads ", "sidecarSeqRead", "inProcessSeqRead", "plainSeqRead"},
            {"sequential writes", "sidecarSeqWrite", "inProcessSeqWrite", "plainSeqWrite"},
        };
        System.out.println("hit path, 8-byte accesses, ns/op: sidecar mode, in-process, plain off-heap; ratios to plain (targets: random reads <= 1.5x, sequential <= 2x)");
        for (String[] row : rows) {
            double sc = s.get(row[1])[0];
            double ip = s.get(row[2])[0];
            double pl = s.get(row[3])[0];
            System.out.printf(Locale.ROOT, "  %s  %8.2f %8.2f %8.2f   sidecar / plain %6.2fx, in-process / plain %6.2fx%n", row[0], sc, ip, pl, sc / pl, ip / pl);
        }
    }

    /**
     * The same hit-path operations timed by this thread's CPU time, the modes alternating in
     * each round: on a shared, oversubscribed machine wall-clock JMH scores include the time the
     * thread waited for a core, CPU time does not.
     */
    private static void hitPathCpuTime(long size, int rounds) throws IOException {
        ThreadMXBean cpu = ManagementFactory.getThreadMXBean();
        if (!cpu.isCurrentThreadCpuTimeSupported()) return;
        HitPath h = new HitPath();
        h.size = ByteSize.format(size);
        h.setUp();
        try {
            String[] modes = {"sidecarRead", "inProcessRead", "plainRead", "sidecarWrite", "inProcessWrite", "plainWrite",
                "sidecarSeqRead", "inProcessSeqRead", "plainSeqRead", "sidecarSeqWrite", "inProcessSeqWrite", "plainSeqWrite"};
            int ops = 2_000_000;
            double[][] nsPerOp = new double[modes.length][rounds];
            for (int r = -2; r < rounds; r++) { // two warm-up rounds
                for (int m = 0; m < modes.length; m++) {
                    HitPath.Cursor c = new HitPath.Cursor();
                    long sink = 0;
                    long t0 = cpu.getCurrentThreadCpuTime();
                    for (int i = 0; i < ops; i++) {
                        switch (m) {
                            case 0 -> sink += h.sidecarRead(c);
                            case 1 -> sink += h.inProcessRead(c);
                            case 2 -> sink += h.plainRead(c);
                            case 3 -> h.sidecarWrite(c);
                            case 4 -> h.inProcessWrite(c);
                            case 5 -> h.plainWrite(c);
                            case 6 -> sink += h.sidecarSeqRead(c);
                            case 7 -> sink += h.inProcessSeqRead(c);
                            case 8 -> sink += h.plainSeqRead(c);
                            case 9 -> h.sidecarSeqWrite(c);
                            case 10 -> h.inProcessSeqWrite(c);
                            default -> h.plainSeqWrite(c);
                        }
                    }
                    long t = cpu.getCurrentThreadCpuTime() - t0;
                    if (sink == 42) System.out.print("");
                    if (r >= 0) nsPerOp[m][r] = (double) t / ops;
                }
            }
            double[] med = new double[modes.length];
            for (int m = 0; m < modes.length; m++) med[m] = median(nsPerOp[m]);
            System.out.printf(Locale.ROOT, "hit path by thread CPU time, median of %d alternating rounds of %d ops: reads sidecar %.1f, in-process %.1f, "
                    + "plain %.1f ns/op; writes sidecar %.1f, in-process %.1f ns/op%n", rounds, ops, med[0], med[1], med[2], med[3], med[4]);
            System.out.printf(Locale.ROOT, "  read ratio sidecar / in-process: %.2fx (in-process / plain %.2fx); write ratio sidecar / in-process: %.2fx%n",
                    med[0] / med[1], med[1] / med[2], med[3] / med[4]);
            String[] names = {"random     reads ", "random     writes", "sequential reads ", "sequential writes"};
            System.out.println("  by thread CPU time, ns/op: sidecar mode, in-process, plain off-heap; ratios to plain (targets: random reads <= 1.5x, sequential <= 2x)");
            for (int k = 0; k < 4; k++) {
                double sc = med[3 * k];
                double ip = med[3 * k + 1];
                double pl = med[3 * k + 2];
                System.out.printf(Locale.ROOT, "  %s  %8.2f %8.2f %8.2f   sidecar / plain %6.2fx, in-process / plain %6.2fx%n", names[k], sc, ip, pl, sc / pl, ip / pl);
            }
        } finally {
            h.tearDown();
        }
    }

    private static String fmt(double[] v) {
        return String.format(Locale.ROOT, "%.2f ± %.2f", v[0], v[1]);
    }

    /**
     * Two claims of one embedded agent, wholly cached: one opened in-process, one attached to a
     * sidecar (run in this JVM: a hit never talks to it, the application only maps its region).
     */
    @State(Scope.Benchmark)
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    public static class HitPath {
        private static final int OFFSETS = 1 << 20;

        @Param("256MiB")
        public String size;

        private EmbeddedPool pool;
        private FarMemory inProcess;
        private Sidecar sidecar;
        private FarMemory attached;
        private FarBuffer inProcessBuf;
        private FarBuffer sidecarBuf;
        private ByteBuffer plain;
        private Path dir;
        private final long[] offsets = new long[OFFSETS];
        private long bytes;

        @State(Scope.Thread)
        public static class Cursor {
            int next;
            long sequential;

            /** The next 8-byte index of a walk over the whole memory that starts again at 0. */
            long step(long bytes) {
                long at = sequential;
                sequential = at + 8 == bytes ? 0 : at + 8;
                return at;
            }
        }

        @Setup(Level.Trial)
        public void setUp() throws IOException {
            bytes = ByteSize.parse(size, "size");
            long slab = Math.min(64L << 20, bytes);
            pool = EmbeddedPool.start(1, 2 * bytes, slab);
            FarMemoryOptions all = FarMemoryOptions.defaults().cacheBytes(bytes).backgroundFlusher(false);
            inProcess = FarMemory.open(pool.bind("hit-in-process", bytes, 1, 4096), all);
            dir = Files.createTempDirectory(Files.isWritable(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir")),
                    "farmem-bench-");
            sidecar = Sidecar.start(pool.bind("hit-sidecar", bytes, 1, 4096), SidecarOptions.defaults().directory(dir).engine(all));
            attached = FarMemory.attach(dir, 10_000);
            inProcessBuf = inProcess.buffer();
            sidecarBuf = attached.buffer();
            plain = ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
            byte[] chunk = new byte[1 << 16];
            for (long at = 0; at < bytes; at += chunk.length) {
                inProcessBuf.get(at, chunk);
                sidecarBuf.get(at, chunk);
            }
            SplittableRandom rnd = new SplittableRandom(1);
            for (int i = 0; i < OFFSETS; i++) offsets[i] = rnd.nextLong(bytes >>> 3) << 3;
            if (inProcess.stats().evictions() != 0 || sidecar.stats().evictions() != 0) {
                throw new IllegalStateException("the far memory does not fit the cache: the hit path would not be measured");
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws IOException {
            attached.close();
            sidecar.close();
            inProcess.close();
            pool.close();
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }

        @Benchmark
        public long sidecarRead(Cursor c) {
            return sidecarBuf.getLong(offsets[c.next++ & (OFFSETS - 1)]);
        }

        @Benchmark
        public long inProcessRead(Cursor c) {
            return inProcessBuf.getLong(offsets[c.next++ & (OFFSETS - 1)]);
        }

        @Benchmark
        public long plainRead(Cursor c) {
            return plain.getLong((int) offsets[c.next++ & (OFFSETS - 1)]);
        }

        @Benchmark
        public void sidecarWrite(Cursor c) {
            int i = c.next++;
            sidecarBuf.putLong(offsets[i & (OFFSETS - 1)], i);
        }

        @Benchmark
        public void inProcessWrite(Cursor c) {
            int i = c.next++;
            inProcessBuf.putLong(offsets[i & (OFFSETS - 1)], i);
        }

        @Benchmark
        public void plainWrite(Cursor c) {
            int i = c.next++;
            plain.putLong((int) offsets[i & (OFFSETS - 1)], i);
        }

        @Benchmark
        public long sidecarSeqRead(Cursor c) {
            return sidecarBuf.getLong(c.step(bytes));
        }

        @Benchmark
        public long inProcessSeqRead(Cursor c) {
            return inProcessBuf.getLong(c.step(bytes));
        }

        @Benchmark
        public long plainSeqRead(Cursor c) {
            return plain.getLong((int) c.step(bytes));
        }

        @Benchmark
        public void sidecarSeqWrite(Cursor c) {
            long at = c.step(bytes);
            sidecarBuf.putLong(at, at);
        }

        @Benchmark
        public void inProcessSeqWrite(Cursor c) {
            long at = c.step(bytes);
            inProcessBuf.putLong(at, at);
        }

        @Benchmark
        public void plainSeqWrite(Cursor c) {
            long at = c.step(bytes);
            plain.putLong((int) at, at);
        }
    }

    // ---- (2) a miss ----------------------------------------------------------------------

    /**
     * Random blocks of a 64 MiB claim through a 1 MiB cache (almost every read misses), queue
     * depth 1, in alternating rounds with the same offsets: in-process; attached to a sidecar
     * running as its own JVM (the deployment), once as it runs by default (its event loop polls
     * while a lone thread's miss is out and for --poll-micros after) and once with doorbells only ({@code
     * --poll-micros 0}); and attached to a sidecar in this JVM, which tells the cost of the path
     * itself from the cost of a second process on this machine. The two sidecar JVMs also report
     * the CPU time they spent per miss, the price of polling.
     */
    private static void missPath(int misses, int rounds, int warmup, long pollMicros) throws Exception {
        long claim = 64L << 20;
        long cache = 1L << 20;
        Path dir = Files.createTempDirectory(Files.isWritable(Path.of("/dev/shm")) ? Path.of("/dev/shm") : Path.of(System.getProperty("java.io.tmpdir")),
                "farmem-bench-miss-");
        List<Process> sidecars = new ArrayList<>();
        try (EmbeddedPool pool = EmbeddedPool.start(1, claim, 16L << 20)) {
            Binding binding = pool.bind("miss", claim, 1, 4096); // read only: the clients may share it
            Path bindingFile = dir.resolve("binding.json");
            Files.writeString(bindingFile, binding.toJson());
            Process polling = startSidecar(dir, bindingFile, "shm", cache, pollMicros);
            sidecars.add(polling);
            Process bells = startSidecar(dir, bindingFile, "shm-bells", cache, 0);
            sidecars.add(bells);
            FarMemoryOptions options = FarMemoryOptions.defaults().cacheBytes(cache).prefetchDepth(0);
            try (FarMemory local = FarMemory.open(binding, options);
                 FarMemory attached = FarMemory.attach(dir.resolve("shm"), 30_000);
                 FarMemory attachedBells = FarMemory.attach(dir.resolve("shm-bells"), 30_000);
                 Sidecar sameJvm = Sidecar.start(binding, SidecarOptions.defaults().directory(dir.resolve("shm-same-jvm")).pollMicros(pollMicros)
                         .engine(options));
                 FarMemory attachedSameJvm = FarMemory.attach(sameJvm.directory(), 10_000)) {
                FarMemory[] mems = {local, attached, attachedBells, attachedSameJvm};
                Process[] processes = {null, polling, bells, null};
                String[] names = {"in-process", "sidecar (another JVM)", "sidecar, doorbells only", "sidecar in this JVM"};
                long blocks = claim / 4096;
                List<List<Histogram>> byMode = new ArrayList<>();
                long[] cpuNanos = new long[mems.length];
                for (FarMemory m : mems) byMode.add(new ArrayList<>());
                for (int w = 0; w < warmup; w += 1000) { // warm-up, alternating: the JIT compiles every path in every JVM
                    for (FarMemory m : mems) timeMisses(m.buffer(), blocks, Math.min(1000, warmup - w), 99 + w);
                }
                for (int r = 0; r < rounds; r++) {
                    for (int m = 0; m < mems.length; m++) {
                        long cpu0 = cpu(processes[m]);
                        byMode.get(m).add(timeMisses(mems[m].buffer(), blocks, misses, r));
                        cpuNanos[m] += cpu(processes[m]) - cpu0;
                    }
                }
                double[][] p50 = new double[mems.length][];
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "miss, random 4 KiB block, queue depth 1, %d rounds x %d:", rounds, misses));
                for (int m = 0; m < mems.length; m++) {
                    Histogram all = merge(byMode.get(m));
                    p50[m] = roundMedians(byMode.get(m), 50);
                    line.append(String.format(Locale.ROOT, "%s %s p50 %.1f us p99 %.1f us", m == 0 ? "" : ";", names[m],
                            all.getValueAtPercentile(50) / 1e3, all.getValueAtPercentile(99) / 1e3));
                }
                System.out.println(line);
                System.out.printf(Locale.ROOT, "  sidecar (polls %d us) - in-process, p50: %.1f us (median of per-round differences; rounds: %s)%n",
                        pollMicros, median(diff(p50[1], p50[0])) / 1e3, rounded(diff(p50[1], p50[0])));
                System.out.printf(Locale.ROOT, "  sidecar with doorbells only - in-process, p50: %.1f us (rounds: %s)%n",
                        median(diff(p50[2], p50[0])) / 1e3, rounded(diff(p50[2], p50[0])));
                System.out.printf(Locale.ROOT, "  of which the path (sidecar in this JVM - in-process): %.1f us (rounds: %s)%n",
                        median(diff(p50[3], p50[0])) / 1e3, rounded(diff(p50[3], p50[0])));
                long measured = (long) rounds * misses;
                System.out.printf(Locale.ROOT, "  sidecar process CPU per miss: polling %.1f us, doorbells only %.1f us%n",
                        cpuNanos[1] / 1e3 / measured, cpuNanos[2] / 1e3 / measured);
                // The same misses from two threads at once, as throughput: polling must not starve the threads that answer.
                double[][] opsPerSecond = new double[mems.length][rounds];
                for (int r = 0; r < rounds; r++) {
                    for (int m = 0; m < mems.length; m++) opsPerSecond[m][r] = missThroughput(mems[m].buffer(), blocks, 2, 500_000_000L, r);
                }
                StringBuilder tput = new StringBuilder("  misses from 2 threads, ops/s (median of rounds):");
                for (int m = 0; m < mems.length; m++) {
                    tput.append(String.format(Locale.ROOT, "%s %s %.0f", m == 0 ? "" : ",", names[m], median(opsPerSecond[m])));
                }
                System.out.println(tput);
                System.out.printf(Locale.ROOT, "  ratio to in-process: sidecar %.2fx, doorbells only %.2fx%n",
                        median(opsPerSecond[1]) / median(opsPerSecond[0]), median(opsPerSecond[2]) / median(opsPerSecond[0]));
                StringBuilder counted = new StringBuilder("  misses counted:");
                for (int m = 0; m < mems.length; m++) counted.append(m == 0 ? " " : ", ").append(names[m]).append(' ').append(mems[m].stats().misses());
                System.out.println(counted + " (of " + (measured + warmup) + " reads each)");
            }
        } finally {
            for (Process p : sidecars) {
                p.destroy();
                p.waitFor(30, TimeUnit.SECONDS);
            }
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static Process startSidecar(Path dir, Path bindingFile, String shm, long cache, long pollMicros) throws Exception {
        String jar = Path.of(SidecarMain.class.getProtectionDomain().getCodeSource().getLocation().toURI()).toString();
        return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m", "-cp", jar,
                SidecarMain.class.getName(), "--binding", bindingFile.toString(), "--shm", dir.resolve(shm).toString(),
                "--cache-bytes", Long.toString(cache), "--prefetch-depth", "0", "--poll-micros", Long.toString(pollMicros), "--metrics-address=")
                .redirectErrorStream(true).redirectOutput(dir.resolve(shm + ".log").toFile()).start();
    }

    /** CPU time a process has used so far (0 for none). */
    private static long cpu(Process p) {
        return p == null ? 0 : p.toHandle().info().totalCpuDuration().map(Duration::toNanos).orElse(0L);
    }

    private static String rounded(double[] nanos) {
        return Arrays.toString(Arrays.stream(nanos).map(d -> Math.round(d / 100) / 10.0).toArray());
    }

    /** Latencies of {@code n} random 8-byte reads that miss, in nanoseconds (3 significant digits). */
    private static Histogram timeMisses(FarBuffer buf, long blocks, int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Histogram ns = new Histogram(3);
        long sink = 0;
        for (int i = 0; i < n; i++) {
            long at = rnd.nextLong(blocks) * 4096 + 8L * rnd.nextInt(512);
            long t0 = System.nanoTime();
            sink += buf.getLong(at);
            ns.recordValue(System.nanoTime() - t0);
        }
        if (sink == 42) System.out.print(""); // keeps the reads
        return ns;
    }

    /** Random 8-byte reads from {@code threads} threads for {@code nanos}; returns reads per second. */
    private static double missThroughput(FarBuffer buf, long blocks, int threads, long nanos, long seed) throws InterruptedException {
        LongAdder done = new LongAdder();
        List<Thread> workers = new ArrayList<>();
        long end = System.nanoTime() + nanos;
        for (int t = 0; t < threads; t++) {
            SplittableRandom rnd = new SplittableRandom(seed * 31 + t);
            Thread w = new Thread(() -> {
                long n = 0;
                long sink = 0;
                while (System.nanoTime() < end) {
                    sink += buf.getLong(rnd.nextLong(blocks) * 4096 + 8L * rnd.nextInt(512));
                    n++;
                }
                done.add(n + (sink == 42 ? 1 : 0));
            }, "bench-reader-" + t);
            w.start();
            workers.add(w);
        }
        for (Thread w : workers) w.join();
        return done.sum() * 1e9 / nanos;
    }

    private static Histogram merge(List<Histogram> rounds) {
        Histogram all = new Histogram(3);
        rounds.forEach(all::add);
        return all;
    }

    /** The given percentile (0-100) of each round. */
    private static double[] roundMedians(List<Histogram> rounds, double percentile) {
        return rounds.stream().mapToDouble(r -> r.getValueAtPercentile(percentile)).toArray();
    }

    private static double[] diff(double[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i] - b[i];
        return d;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
