package dev.farmem.bench.sweep;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.bench.workload.Workload;
import dev.farmem.bench.workload.WorkloadBench;
import dev.farmem.bench.workload.WorkloadRunner;
import dev.farmem.common.ByteSize;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./farmem bench sweep}: one workload over cache sizes from a tenth of the far memory to
 * all of it, with line and page tracking side by side at each size (alternating which goes
 * first), through {@link WorkloadRunner}. Prints a table and writes {@code sweep.csv} and the
 * plots ({@link SweepPlots}, SVG and PNG) into {@code --out}. One run per point: the plots show
 * the shape of the curves; {@code ./farmem bench workloads} gives medians of several runs.
 */
public final class SweepBench {

    private static final int BLOCK = 4096;

    @Command(name = "./farmem bench sweep", sortOptions = false, description = {"One workload over cache sizes, line and page tracking at "
            + "each, written as a CSV and plots (SVG and PNG).", ""})
    static final class Flags {
        @Option(names = "--workload", paramLabel = "W", defaultValue = "zipf", description = "zipf, sparse-write, uniform or scan")
        String workload;
        @Option(names = "--percents", paramLabel = "LIST", defaultValue = "10,20,30,40,50,60,70,80,90,100",
                description = "cache sizes in %% of the far memory")
        String percents;
        @Option(names = "--size", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "64MiB", description = "far memory, 4MiB..1GiB")
        long size;
        @Option(names = "--agents", paramLabel = "N", defaultValue = "2", description = "agents on loopback (every slab on 2 of them when N >= 2)")
        int agents;
        @Option(names = "--seconds", paramLabel = "S", defaultValue = "1.5", description = "measured seconds per point and tracking, after 0.5 s of warm-up")
        double seconds;
        @Option(names = "--threads", paramLabel = "N", defaultValue = "2", description = "application threads")
        int threads;
        @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "random seed")
        long seed;
        @Option(names = "--link-mbps", paramLabel = "N", defaultValue = "1000",
                description = "pass every request through an emulated N Mb/s link (0: bare loopback)")
        long linkMbps;
        @Option(names = "--out", paramLabel = "DIR", defaultValue = "target/sweep", description = "where the CSV and the plots go (relative: to the working directory)")
        Path out;

        Workload workloadChosen;
        final List<Integer> percentList = new ArrayList<>();

        /** The flags checked; throws IllegalArgumentException saying which value is wrong. */
        Flags checked() {
            workloadChosen = Workload.parse(workload);
            percentList.addAll(Cli.percentages("--percents", percents));
            if (size < (4L << 20) || size > (1L << 30)) throw new IllegalArgumentException("--size must be in 4MiB..1GiB, got " + ByteSize.format(size));
            Cli.inRange("--agents", agents, 1, 16);
            if (!(seconds >= 0.1 && seconds <= 600)) throw new IllegalArgumentException("--seconds " + seconds + " is not in 0.1..600");
            Cli.inRange("--threads", threads, 1, 64);
            Cli.inRange("--link-mbps", linkMbps, 0, 1_000_000);
            out = out.toAbsolutePath();
            return this;
        }
    }

    private SweepBench() {}

    public static void main(String[] args) throws Exception {
        Flags f = Cli.of(new Flags(), EnvironmentDefaults.NONE).parseOrExit(args, Flags::checked);
        Workload workload = f.workloadChosen;
        List<Integer> percents = f.percentList;
        long size = f.size;
        int agents = f.agents;
        int threads = f.threads;
        double seconds = f.seconds;
        long seed = f.seed;
        long linkMbps = f.linkMbps;
        Path out = f.out;
        long slab = 8L << 20;
        size = (size + slab - 1) / slab * slab;
        int replication = Math.min(2, agents);
        long perAgent = ((size / slab) * replication + agents - 1) / agents * slab;
        String network = linkMbps > 0 ? "emulated " + linkMbps + " Mb/s link" : "bare loopback";
        System.out.printf(Locale.ROOT, "farmem cache sweep: %s over %s on %d loopback agents (x%d), %s, %d threads, %.1f s per point and tracking "
                + "(+0.5 s warm-up), seed %d%n", workload.id(), ByteSize.format(size), agents, replication, network, threads, seconds, seed);
        System.out.println(WorkloadBench.machine());
        List<SweepPoint> points = new ArrayList<>();
        try (EmbeddedPool pool = EmbeddedPool.start(agents, perAgent, slab)) {
            Binding binding = pool.bind("sweep-" + workload.id(), size, replication, BLOCK);
            WorkloadRunner.load(binding, seed);
            // An unshown run first, so that JIT compilation does not land on the first point measured.
            WorkloadRunner.run(binding, new WorkloadRunner.Config(workload, size / 4 / BLOCK * BLOCK, 64, threads, 0, 1, seed - 1, linkMbps));
            System.out.printf(Locale.ROOT, "%n%6s %-6s %12s %10s %8s %10s %10s %10s%n", "cache", "track", "ops/s", "back B/op", "hits",
                    "hit p50 us", "hit p90 us", "hit p99 us");
            for (int i = 0; i < percents.size(); i++) {
                int pct = percents.get(i);
                long cache = Math.max(16L * BLOCK, size * pct / 100 / BLOCK * BLOCK);
                int[] order = i % 2 == 0 ? new int[] {64, BLOCK} : new int[] {BLOCK, 64};
                for (int g : order) {
                    SweepPoint p = SweepPoint.of(pct, WorkloadRunner.measure(binding,
                            new WorkloadRunner.Config(workload, cache, g, threads, 0.5, seconds, seed + i, linkMbps)));
                    points.add(p);
                    System.out.printf(Locale.ROOT, "%5d%% %-6s %,12.0f %10.1f %7.1f%% %10.2f %10.2f %10.2f%n", pct, p.tracking(), p.opsPerSec(),
                            p.writtenBackBytesPerOp(), 100 * p.hitRatio(), p.hitP50() / 1e3, p.hitP90() / 1e3, p.hitP99() / 1e3);
                }
            }
        }
        points.sort(Comparator.comparing(SweepPoint::tracking).thenComparingInt(SweepPoint::cachePercent));
        Files.createDirectories(out);
        Path csv = out.resolve("sweep.csv");
        List<String> lines = new ArrayList<>();
        lines.add(SweepPoint.CSV_HEADER);
        for (SweepPoint p : points) lines.add(p.csv());
        Files.write(csv, lines);
        String subtitle = workload.id() + ", " + ByteSize.format(size) + ", " + network;
        List<Path> written = SweepPlots.write(out, subtitle, points);
        System.out.println();
        System.out.println("wrote " + csv);
        for (Path p : written) System.out.println("wrote " + p);
    }
}
