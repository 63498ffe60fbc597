package dev.farmem.bench.demo;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.CommandLine;
import dev.farmem.bench.workload.RunResult;
import dev.farmem.bench.workload.Workload;
import dev.farmem.bench.workload.WorkloadRunner;
import dev.farmem.common.ByteSize;
import dev.farmem.common.binding.Binding;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code ./farmem demo}: a few agents on loopback, a far memory several times larger than the
 * local cache, one workload run with cache-line tracking and again with 4 KiB page tracking,
 * and a table that puts them side by side.
 */
public final class Demo {

    static final String USAGE = """
            usage: ./farmem demo [options]
              --agents N         memory-node agents on loopback (default 3; replication 2 when N >= 2)
              --size SIZE        far memory (default 256MiB)
              --cache SIZE       local cache (default 64MiB)
              --workload NAME    uniform | zipf | sparse-write | scan (default sparse-write)
              --tracking MODE    line | page | both (default both)
              --seconds N        measured seconds per run (default 5), after 1 s of warm-up
              --threads N        application threads (default 2)
              --seed N           random seed (default 42)
              --link-mbps N      pass every request through an emulated network link of N Mb/s shared by
                                 fetches and write-backs (default 1000; 0: plain loopback, whose spare
                                 bandwidth hides what the bytes written back cost)
              --json             one JSON object per run instead of the table
            """;

    private static final int BLOCK = 4096;
    /**
     * 1 Gb/s: at the ~20 K misses/s loopback TCP allows on a small box, that is the bandwidth
     * per miss of a 100 Gb/s RDMA link at ~2 M misses/s, the regime Kona measured.
     */
    static final long DEFAULT_LINK_MBPS = 1000;

    private Demo() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && (args[0].equals("--help") || args[0].equals("-h"))) {
            System.out.print(USAGE);
            return;
        }
        Settings s;
        try {
            s = Settings.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("farmem demo: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
            return;
        }
        run(s);
    }

    record Settings(int agents, long size, long cache, Workload workload, List<Integer> trackings, int seconds, int threads,
                    long seed, boolean json, long linkMbps) {

        static Settings parse(String[] args) {
            CommandLine cl = new CommandLine(args, Set.of("agents", "size", "cache", "workload", "tracking", "seconds", "threads", "seed", "link-mbps"),
                    Set.of("json"));
            int agents = (int) cl.integer("agents", 3, 1, 16);
            long size = cl.bytes("size", 256L << 20);
            long cache = cl.bytes("cache", 64L << 20);
            if (size < (1L << 20)) throw new IllegalArgumentException("--size " + ByteSize.format(size) + " is too small: give at least 1MiB");
            if (size > (16L << 30)) throw new IllegalArgumentException("--size " + ByteSize.format(size) + " is more than the demo's 16GiB");
            if (cache < 16L * BLOCK) throw new IllegalArgumentException("--cache " + ByteSize.format(cache) + " is too small: give at least 64KiB (16 blocks)");
            if (cache > (1L << 30)) throw new IllegalArgumentException("--cache " + ByteSize.format(cache) + " is more than one cache region holds here: give at most 1GiB");
            Workload workload = Workload.parse(cl.string("workload", "sparse-write"));
            List<Integer> trackings = switch (cl.string("tracking", "both")) {
                case "line" -> List.of(64);
                case "page" -> List.of(BLOCK);
                case "both" -> List.of(64, BLOCK);
                default -> throw new IllegalArgumentException("--tracking '" + cl.string("tracking", "") + "' is not one of line, page, both");
            };
            return new Settings(agents, size, cache, workload, trackings, (int) cl.integer("seconds", 5, 1, 600),
                    (int) cl.integer("threads", 2, 1, 64), cl.integer("seed", 42, Long.MIN_VALUE, Long.MAX_VALUE), cl.flag("json"),
                    cl.integer("link-mbps", DEFAULT_LINK_MBPS, 0, 1_000_000));
        }
    }

    static void run(Settings s) throws InterruptedException {
        long slab = Math.min(8L << 20, Long.highestOneBit(s.size()));
        long size = (s.size() + slab - 1) / slab * slab;
        int replication = Math.min(2, s.agents());
        long slabsPerAgent = (size / slab * replication + s.agents() - 1) / s.agents();
        if (!s.json()) {
            System.out.printf(Locale.ROOT, "farmem demo: %d agents on loopback, far memory %s (each slab on %d agents), local cache %s (%s of it), %d threads, seed %d%n",
                    s.agents(), ByteSize.format(size), replication, ByteSize.format(s.cache()), percent((double) s.cache() / size),
                    s.threads(), s.seed());
            System.out.printf("workload %s: %s%n", s.workload().id(), s.workload().description());
            if (s.linkMbps() > 0) {
                System.out.printf("network: loopback TCP through an emulated %d Mb/s link shared by fetches and write-backs "
                        + "(as many bytes per miss as 100 Gb/s RDMA at 100x the miss rate; --link-mbps 0 for bare loopback)%n", s.linkMbps());
            } else {
                System.out.println("network: bare loopback TCP (bandwidth to spare: bytes written back cost little here)");
            }
            System.out.printf("load phase writes the whole far memory once, then a 2 s run that is not shown warms the JIT; each run: 1 s warm-up, %d s measured, then flush; line and page tracking alternate with the same seed%n%n", s.seconds());
        }
        List<RunResult> results = new ArrayList<>();
        try (EmbeddedPool pool = EmbeddedPool.start(s.agents(), slabsPerAgent * slab, slab)) {
            Binding binding = pool.bind("demo", size, replication, BLOCK);
            WorkloadRunner.load(binding, s.seed());
            // An unshown run first, so that JIT compilation does not land on the first side measured.
            WorkloadRunner.run(binding, new WorkloadRunner.Config(s.workload(), s.cache(), 64, s.threads(), 0, 2, s.seed() + 1, s.linkMbps()));
            for (int granularity : s.trackings()) {
                RunResult r = WorkloadRunner.run(binding, new WorkloadRunner.Config(s.workload(), s.cache(), granularity, s.threads(),
                        1.0, s.seconds(), s.seed(), s.linkMbps()));
                results.add(r);
                if (s.json()) System.out.println(r.toJson());
            }
        }
        if (!s.json()) System.out.print(table(results));
    }

    static String table(List<RunResult> runs) {
        StringBuilder out = new StringBuilder();
        String[] headers = runs.stream().map(r -> r.tracking().equals("line") ? "line (64 B)" : r.tracking().equals("page") ? "page (4 KiB)" : r.tracking())
                .toArray(String[]::new);
        row(out, "tracking", headers);
        row(out, "ops/s", runs.stream().map(r -> String.format(Locale.ROOT, "%,.0f", r.opsPerSec())).toArray(String[]::new));
        row(out, "hit ratio", runs.stream().map(r -> percent(r.hitRatio())).toArray(String[]::new));
        row(out, "bytes fetched", runs.stream().map(r -> human(r.bytesFetched())).toArray(String[]::new));
        row(out, "bytes written back", runs.stream().map(r -> human(r.bytesWrittenBack())).toArray(String[]::new));
        row(out, "lines written back", runs.stream().map(r -> String.format(Locale.ROOT, "%,d", r.linesWrittenBack())).toArray(String[]::new));
        row(out, "write-back vs line ideal", runs.stream().map(r -> String.format(Locale.ROOT, "%.2fx", r.writebackVsLineIdeal())).toArray(String[]::new));
        row(out, "p50 / p99 op latency", runs.stream().map(r -> String.format(Locale.ROOT, "%.1f / %.0f us", r.p50Nanos() / 1e3, r.p99Nanos() / 1e3)).toArray(String[]::new));
        RunResult line = runs.stream().filter(r -> r.tracking().equals("line")).findFirst().orElse(null);
        RunResult page = runs.stream().filter(r -> r.tracking().equals("page")).findFirst().orElse(null);
        out.append('\n');
        if (line != null && page != null && line.bytesWrittenBack() > 0) {
            out.append(String.format(Locale.ROOT,
                    "Per operation, line tracking wrote back %.1fx fewer bytes than page tracking, and ran %.2fx its operations per second:%n"
                            + "only the 64-byte lines a program changed travel back to the memory nodes, not whole 4 KiB pages.%n",
                    ((double) page.bytesWrittenBack() / page.ops()) / ((double) line.bytesWrittenBack() / line.ops()),
                    line.opsPerSec() / page.opsPerSec()));
        } else if (line != null && page != null) {
            out.append("Nothing was written back in this run (a read-only workload): line and page tracking cost the same here.\n");
        }
        return out.toString();
    }

    private static void row(StringBuilder out, String label, String[] cells) {
        out.append(String.format(Locale.ROOT, "  %-26s", label));
        for (String c : cells) out.append(String.format(Locale.ROOT, "%18s", c));
        out.append('\n');
    }

    static String percent(double f) {
        return String.format(Locale.ROOT, "%.1f %%", 100 * f);
    }

    static String human(long bytes) {
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return u == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }
}
