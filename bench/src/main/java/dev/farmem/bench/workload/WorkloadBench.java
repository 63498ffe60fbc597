package dev.farmem.bench.workload;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.ByteSize;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./farmem bench workloads}: the workload runner of docs/benchmarks.md. Every comparison
 * runs both sides in this one process, alternating (line, page, then page, line...) with the
 * same seed; figures are medians of the runs with their spread. Sweeps the cache from 10 % to
 * 100 % of the far memory for Zipf, and compares line with page tracking at 25 % for the others.
 */
public final class WorkloadBench {

    private static final int BLOCK = 4096;

    @Command(name = "./farmem bench workloads", sortOptions = false, description = {"The workload runner of docs/benchmarks.md: line vs page "
            + "tracking, side by side in this process, and a cache sweep for zipf.", ""})
    static final class Flags {
        @Option(names = "--size", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "128MiB",
                description = "far memory per workload, 4MiB..1GiB")
        long size;
        @Option(names = "--agents", paramLabel = "N", defaultValue = "3", description = "agents on loopback (every slab on 2 of them)")
        int agents;
        @Option(names = "--workloads", paramLabel = "LIST", defaultValue = "zipf,sparse-write,uniform,scan",
                description = "comma-separated, of uniform, zipf, sparse-write, scan")
        String workloads;
        @Option(names = "--ratios", paramLabel = "LIST",
                description = "cache sizes in %% of the far memory swept for zipf (default 10,25,50,100; with --batch 25)")
        String ratios;
        @Option(names = "--runs", paramLabel = "N", defaultValue = "3", description = "runs per configuration and side; the median is reported")
        int runs;
        @Option(names = "--seconds", paramLabel = "N", defaultValue = "2", description = "measured seconds per run, after --warmup seconds")
        int seconds;
        @Option(names = "--warmup", paramLabel = "N", defaultValue = "1", description = "warm-up seconds before each run")
        int warmup;
        @Option(names = "--threads", paramLabel = "N", defaultValue = "2", description = "application threads")
        int threads;
        @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "random seed")
        long seed;
        @Option(names = "--link-mbps", paramLabel = "N", defaultValue = "0",
                description = "also pass every request through an emulated N Mb/s link (0: plain loopback)")
        long linkMbps;
        @Option(names = "--batch", paramLabel = "N", defaultValue = "0", description = "instead: zipf 8-byte reads, single gets vs batches of N "
                + "(FarLongArray.get(long[], long[])), side by side at the --ratios cache sizes, printed as a ratio")
        int batch;
        @Option(names = "--virtual", paramLabel = "N", defaultValue = "0", description = "instead: zipf 8-byte single gets on --threads platform threads "
                + "vs N virtual threads (with --batch M: batches of M on both sides), side by side as --batch; needs Java 21+")
        int virtual;
        @Option(names = "--json", description = "one JSON object per run as well")
        boolean json;

        final List<Workload> workloadList = new ArrayList<>();
        final List<Integer> ratioList = new ArrayList<>();

        /** The flags checked; throws IllegalArgumentException saying which value is wrong. */
        Flags checked() {
            if (size < (4L << 20) || size > (1L << 30)) throw new IllegalArgumentException("--size must be in 4MiB..1GiB, got " + ByteSize.format(size));
            Cli.inRange("--agents", agents, 1, 16);
            Cli.inRange("--runs", runs, 1, 50);
            Cli.inRange("--seconds", seconds, 1, 600);
            Cli.inRange("--warmup", warmup, 0, 600);
            Cli.inRange("--threads", threads, 1, 64);
            Cli.inRange("--link-mbps", linkMbps, 0, 1_000_000);
            Cli.inRange("--batch", batch, 0, 4096);
            if (batch == 1) throw new IllegalArgumentException("--batch 1 is the single-get side itself: give 2 or more");
            Cli.inRange("--virtual", virtual, 0, 100_000);
            for (String w : workloads.split(",")) workloadList.add(Workload.parse(w.trim()));
            ratioList.addAll(Cli.percentages("--ratios", ratios != null ? ratios : batch > 0 || virtual > 0 ? "25" : "10,25,50,100"));
            return this;
        }
    }

    private WorkloadBench() {}

    private record Row(Workload workload, int percent, List<RunResult> line, List<RunResult> page) {}

    public static void main(String[] args) throws Exception {
        Flags f = Cli.of(new Flags(), EnvironmentDefaults.NONE).parseOrExit(args, Flags::checked);
        long size = f.size;
        int agents = f.agents;
        int runs = f.runs;
        int threads = f.threads;
        int seconds = f.seconds;
        int warmup = f.warmup;
        long seed = f.seed;
        long linkMbps = f.linkMbps;
        int batch = f.batch;
        List<Workload> workloads = f.workloadList;
        List<Integer> ratios = f.ratioList;
        boolean json = f.json;
        int virtual = f.virtual;
        if (virtual > 0) {
            int perCall = Math.max(1, batch);
            runSides(new Side("platform", threads, false, perCall), new Side("virtual", virtual, true, perCall),
                    size, agents, runs, seconds, warmup, seed, linkMbps, ratios, json,
                    "%d platform threads vs %d virtual threads, %s".formatted(threads, virtual, perCall == 1 ? "single gets" : "batches of " + perCall),
                    "ops/s with %d virtual threads / %d platform threads, zipf at the cache above (issue 14: many misses in flight on few carriers)".formatted(virtual, threads));
            return;
        }
        if (batch > 0) {
            runSides(new Side("single", threads, false, 1), new Side("batch", threads, false, batch),
                    size, agents, runs, seconds, warmup, seed, linkMbps, ratios, json,
                    "single gets vs batches of %d, %d threads".formatted(batch, threads),
                    "ops/s with batches of %d / single gets, zipf at the cache above; target >= 5x over loopback TCP".formatted(batch));
            return;
        }
        long slab = 8L << 20;
        size = (size + slab - 1) / slab * slab;
        int replication = Math.min(2, agents);
        long perAgent = ((size / slab) * replication * workloads.size() + agents - 1) / agents * slab;

        System.out.printf(Locale.ROOT, "farmem workload benchmark: far memory %s per workload on %d loopback agents (x%d), %d threads, %d runs x %d s (+%d s warm-up), seed %d%n",
                ByteSize.format(size), agents, replication, threads, runs, seconds, warmup, seed);
        System.out.println(machine());
        if (linkMbps > 0) System.out.printf("network: loopback TCP through an emulated full-duplex %d Mb/s link (fetches in, write-backs out), headers counted%n", linkMbps);
        List<Row> rows = new ArrayList<>();
        try (EmbeddedPool pool = EmbeddedPool.start(agents, perAgent, slab)) {
            for (Workload w : workloads) {
                Binding binding = pool.bind("bench-" + w.id(), size, replication, BLOCK);
                WorkloadRunner.load(binding, seed);
                // An unshown run first, so that JIT compilation does not land on the first side measured.
                WorkloadRunner.run(binding, new WorkloadRunner.Config(w, size / 4 / BLOCK * BLOCK, 64, threads, 0, 2, seed - 1, linkMbps));
                List<Integer> percents = w == Workload.ZIPF ? ratios : List.of(25);
                for (int pct : percents) {
                    long cache = Math.max(16L * BLOCK, size * pct / 100 / BLOCK * BLOCK);
                    Row row = new Row(w, pct, new ArrayList<>(), new ArrayList<>());
                    for (int run = 0; run < runs; run++) {
                        int[] order = run % 2 == 0 ? new int[] {64, BLOCK} : new int[] {BLOCK, 64};
                        for (int g : order) {
                            RunResult r = WorkloadRunner.run(binding, new WorkloadRunner.Config(w, cache, g, threads, warmup, seconds, seed + run, linkMbps));
                            (g == 64 ? row.line() : row.page()).add(r);
                            if (json) System.out.println(r.toJson());
                        }
                    }
                    rows.add(row);
                    printRow(row, rows.size() == 1);
                }
            }
        }
        printFigures(rows);
    }

    /** One side of a read comparison: its threads (platform or virtual) and the reads per call (1: single gets). */
    private record Side(String name, int threads, boolean virtual, int batch) {
        WorkloadRunner.Config on(WorkloadRunner.Config c) {
            return c.withThreads(threads, virtual);
        }
    }

    /**
     * {@code --batch N} and {@code --virtual N}: zipf 8-byte reads at each cache ratio, side
     * {@code a} and side {@code b} alternating (a, b, then b, a...) over the same claim with the same seeds.
     */
    private static void runSides(Side a, Side b, long size, int agents, int runs, int seconds, int warmup, long seed, long linkMbps,
                                 List<Integer> ratios, boolean json, String title, String figure) throws Exception {
        long slab = 8L << 20;
        size = (size + slab - 1) / slab * slab;
        int replication = Math.min(2, agents);
        long perAgent = ((size / slab) * replication + agents - 1) / agents * slab;
        System.out.printf(Locale.ROOT, "farmem read benchmark: zipf 0.99 8-byte reads, %s; far memory %s on %d loopback agents (x%d), %d runs x %d s (+%d s warm-up), seed %d%n",
                title, ByteSize.format(size), agents, replication, runs, seconds, warmup, seed);
        System.out.println(machine());
        if (linkMbps > 0) System.out.printf("network: loopback TCP through an emulated full-duplex %d Mb/s link (fetches in, write-backs out), headers counted%n", linkMbps);
        System.out.printf(Locale.ROOT, "%n%6s %26s %26s %14s %8s %8s %14s %14s %12s %12s %10s %10s%n", "cache", "ops/s " + a.name() + " [min-max]",
                "ops/s " + b.name() + " [min-max]", b.name() + "/" + a.name(), "hits", "hits", "p50 us/call", "p50 us/call",
                "cpu us/miss", "cpu us/miss", "cs/miss", "cs/miss");
        System.out.printf(Locale.ROOT, "%6s %26s %26s %14s %8s %8s %14s %14s %12s %12s %10s %10s%n", "", "", "", "", a.name(), b.name(), a.name(), b.name(),
                a.name(), b.name(), a.name(), b.name());
        try (EmbeddedPool pool = EmbeddedPool.start(agents, perAgent, slab)) {
            Binding binding = pool.bind("bench-reads", size, replication, BLOCK);
            WorkloadRunner.load(binding, seed);
            WorkloadRunner.Config warm = new WorkloadRunner.Config(Workload.ZIPF, size / 4 / BLOCK * BLOCK, 64, 1, 0, 2, seed - 1, linkMbps);
            for (Side side : new Side[] {a, b}) WorkloadRunner.runReads(binding, side.on(warm), side.batch()); // unshown, for the JIT
            for (int pct : ratios) {
                long cache = Math.max(16L * BLOCK, size * pct / 100 / BLOCK * BLOCK);
                List<RunResult> first = new ArrayList<>();
                List<RunResult> second = new ArrayList<>();
                List<double[]> firstCost = new ArrayList<>();
                List<double[]> secondCost = new ArrayList<>();
                for (int run = 0; run < runs; run++) {
                    for (Side side : run % 2 == 0 ? new Side[] {a, b} : new Side[] {b, a}) {
                        WorkloadRunner.Config c = new WorkloadRunner.Config(Workload.ZIPF, cache, 64, 1, warmup, seconds, seed + run, linkMbps);
                        WorkloadRunner.ReadRun read = WorkloadRunner.runReads(binding, side.on(c), side.batch());
                        RunResult r = read.result();
                        (side == a ? first : second).add(r);
                        (side == a ? firstCost : secondCost).add(new double[] {read.cpuMicrosPerMiss(), read.switchesPerMiss()});
                        if (json) System.out.println(r.toJson());
                    }
                }
                System.out.printf(Locale.ROOT, "%5d%% %26s %26s %13.2fx %7.1f%% %7.1f%% %14.1f %14.1f %12.1f %12.1f %10.2f %10.2f%n", pct, spread(first, RunResult::opsPerSec),
                        spread(second, RunResult::opsPerSec), median(second, RunResult::opsPerSec) / median(first, RunResult::opsPerSec),
                        100 * median(first, RunResult::hitRatio), 100 * median(second, RunResult::hitRatio),
                        median(first, RunResult::p50Nanos) / 1e3, median(second, RunResult::p50Nanos) / 1e3,
                        medianOf(firstCost, 0), medianOf(secondCost, 0), medianOf(firstCost, 1), medianOf(secondCost, 1));
            }
        }
        System.out.printf(Locale.ROOT, "%nfigure (docs/benchmarks.md): %s%n", figure);
    }

    /** The median of column {@code i} of the runs' per-miss costs. */
    private static double medianOf(List<double[]> costs, int i) {
        double[] v = costs.stream().mapToDouble(x -> x[i]).sorted().toArray();
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    public static String machine() {
        Runtime rt = Runtime.getRuntime();
        return String.format(Locale.ROOT, "machine: %d cores, %s %s (%s), max heap %s, JVM flags %s", rt.availableProcessors(),
                System.getProperty("java.vm.name"), System.getProperty("java.runtime.version"), System.getProperty("os.arch"),
                ByteSize.format(rt.maxMemory() / (1 << 20) * (1 << 20)), ManagementFactory.getRuntimeMXBean().getInputArguments());
    }

    private static void printRow(Row r, boolean header) {
        if (header) {
            System.out.printf(Locale.ROOT, "%n%-13s %6s %24s %24s %10s %8s %12s %12s %14s%n", "workload", "cache", "ops/s line [min-max]",
                    "ops/s page [min-max]", "line/page", "hits", "wb/ideal", "wb/ideal", "page/line");
            System.out.printf(Locale.ROOT, "%-13s %6s %24s %24s %10s %8s %12s %12s %14s%n", "", "", "", "", "ops/s", "(line)", "line", "page",
                    "bytes/op back");
        }
        double lineOps = median(r.line(), RunResult::opsPerSec);
        double pageOps = median(r.page(), RunResult::opsPerSec);
        double lineBytes = median(r.line(), WorkloadBench::bytesPerOp);
        double pageBytes = median(r.page(), WorkloadBench::bytesPerOp);
        System.out.printf(Locale.ROOT, "%-13s %5d%% %24s %24s %9.2fx %7.1f%% %11.3fx %11.2fx %14s%n", r.workload().id(), r.percent(),
                spread(r.line(), RunResult::opsPerSec), spread(r.page(), RunResult::opsPerSec), lineOps / pageOps,
                100 * median(r.line(), RunResult::hitRatio), median(r.line(), RunResult::writebackVsLineIdeal),
                median(r.page(), RunResult::writebackVsLineIdeal), lineBytes == 0 ? "no writes" : String.format(Locale.ROOT, "%.1fx", pageBytes / lineBytes));
    }

    private static void printFigures(List<Row> rows) {
        System.out.println("\nfigures (docs/benchmarks.md), medians of runs measured side by side in this process:");
        double worstLine = rows.stream().flatMap(r -> r.line().stream()).filter(x -> x.lineIdealBytes() > 0)
                .mapToDouble(RunResult::writebackVsLineIdeal).max().orElse(Double.NaN);
        System.out.printf(Locale.ROOT, "  write-back bytes vs the line ideal (line tracking, worst run):   %.3f   target <= 1.05%n", worstLine);
        for (Row r : rows) {
            double line = median(r.line(), WorkloadBench::bytesPerOp);
            if (r.percent() == 25 && line > 0) {
                System.out.printf(Locale.ROOT, "  dirty data saved, %-13s page / line bytes written back per op, 25 %%: %6.1fx%n", r.workload().id(),
                        median(r.page(), WorkloadBench::bytesPerOp) / line);
            }
        }
        Row z25 = find(rows, Workload.ZIPF, 25);
        Row z100 = find(rows, Workload.ZIPF, 100);
        if (z25 != null && z100 != null) {
            System.out.printf(Locale.ROOT, "  throughput vs all-local, zipf 0.99, cache 25 %% / 100 %% (line):  %.3f   target >= 0.6%n",
                    median(z25.line(), RunResult::opsPerSec) / median(z100.line(), RunResult::opsPerSec));
        }
        Row sparse = find(rows, Workload.SPARSE_WRITE, 25);
        if (sparse != null) {
            System.out.printf(Locale.ROOT, "  throughput vs page tracking, sparse-write at 25 %% (line / page): %.3f   target >= 1.7%n",
                    median(sparse.line(), RunResult::opsPerSec) / median(sparse.page(), RunResult::opsPerSec));
        }
    }

    private static Row find(List<Row> rows, Workload w, int pct) {
        return rows.stream().filter(r -> r.workload() == w && r.percent() == pct).findFirst().orElse(null);
    }

    /** Runs are timed, so each side does a different number of operations: compare bytes per operation. */
    static double bytesPerOp(RunResult r) {
        return r.ops() == 0 ? 0 : (double) r.bytesWrittenBack() / r.ops();
    }

    static double median(List<RunResult> runs, ToDoubleFunction<RunResult> f) {
        double[] v = runs.stream().mapToDouble(f).sorted().toArray();
        if (v.length == 0) return Double.NaN;
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    private static String spread(List<RunResult> runs, ToDoubleFunction<RunResult> f) {
        double[] v = runs.stream().mapToDouble(f).sorted().toArray();
        return String.format(Locale.ROOT, "%,.0f [%,.0f-%,.0f]", median(runs, f), v[0], v[v.length - 1]);
    }

}
