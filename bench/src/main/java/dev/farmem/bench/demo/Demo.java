package dev.farmem.bench.demo;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.bench.workload.RunResult;
import dev.farmem.bench.workload.Workload;
import dev.farmem.bench.workload.WorkloadRunner;
import dev.farmem.common.ByteSize;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import dev.farmem.transport.rdma.RdmaSupport;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./farmem demo}: a few agents on loopback, a far memory several times larger than the
 * local cache, one workload run with cache-line tracking and again with 4 KiB page tracking,
 * and a table that puts them side by side.
 */
public final class Demo {

    private static final int BLOCK = 4096;
    /**
     * 1 Gb/s: at the ~20 K misses/s loopback TCP allows on a small box, that is the bandwidth
     * per miss of a 100 Gb/s RDMA link at ~2 M misses/s, the regime Kona measured.
     */
    static final long DEFAULT_LINK_MBPS = 1000;

    private Demo() {}

    public static void main(String[] args) throws Exception {
        // DiSNI logs every connection's set-up and tear-down at INFO: over RDMA that buries the figures. Unless asked for.
        if (System.getProperty("org.slf4j.simpleLogger.log.com.ibm.disni") == null) System.setProperty("org.slf4j.simpleLogger.log.com.ibm.disni", "warn");
        Cli<Flags> cli = Cli.of(new Flags(), EnvironmentDefaults.NONE);
        Settings s = cli.parseOrExit(args, Flags::settings);
        try {
            run(s);
        } catch (IllegalStateException e) { // RDMA not usable here, or the closing check failed: say so, no stack trace
            System.err.println("farmem demo: " + e.getMessage());
            System.exit(1);
        }
    }

    @Command(name = "./farmem demo", sortOptions = false, description = {"A few agents on loopback, a far memory several times larger than the "
            + "local cache, one workload run with cache-line tracking and again with 4 KiB page tracking, side by side.", ""})
    static final class Flags {
        @Option(names = "--agents", paramLabel = "N", defaultValue = "3",
                description = "memory-node agents on loopback, 1..16 (replication 2 when N >= 2)")
        int agents;
        @Option(names = "--size", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "256MiB", description = "far memory")
        long size;
        @Option(names = "--cache", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "64MiB", description = "local cache")
        long cache;
        @Option(names = "--workload", paramLabel = "NAME", defaultValue = "sparse-write", description = "uniform | zipf | sparse-write | scan")
        String workload;
        @Option(names = "--tracking", paramLabel = "MODE", defaultValue = "both", description = "line | page | both")
        String tracking;
        @Option(names = "--seconds", paramLabel = "N", defaultValue = "5", description = "measured seconds per run, after 1 s of warm-up")
        int seconds;
        @Option(names = "--threads", paramLabel = "N", defaultValue = "2", description = "application threads")
        int threads;
        @Option(names = "--seed", paramLabel = "N", defaultValue = "42", description = "random seed")
        long seed;
        @Option(names = "--link-mbps", paramLabel = "N",
                description = "pass every request through an emulated network full-duplex link of N Mb/s each way (fetches in, write-backs out), wire and packet headers counted "
                        + "(0: plain loopback, whose spare bandwidth hides what the bytes written back cost); default " + DEFAULT_LINK_MBPS
                        + " over tcp, 0 over rdma (the link is emulated over TCP only)")
        Long linkMbps;
        @Option(names = "--transport", paramLabel = "KIND", defaultValue = "tcp",
                description = "tcp (agents on loopback), or rdma: the agents serve RDMA on --address and the client uses it (needs an RDMA "
                        + "device, for example in the e2e/rdma-vm guest)")
        String transport;
        @Option(names = "--address", paramLabel = "IP", defaultValue = "10.215.0.2",
                description = "with --transport rdma: an address of the RDMA device the agents listen on (10.215.0.2 in the e2e/rdma-vm guest)")
        String address;
        @Option(names = "--json", description = "one JSON object per run instead of the table")
        boolean json;

        /** The flags checked together; throws IllegalArgumentException saying which value is wrong. */
        Settings settings() {
            Cli.inRange("--agents", agents, 1, 16);
            if (size < (1L << 20)) throw new IllegalArgumentException("--size " + ByteSize.format(size) + " is too small: give at least 1MiB");
            if (size > (16L << 30)) throw new IllegalArgumentException("--size " + ByteSize.format(size) + " is more than the demo's 16GiB");
            if (cache < 16L * BLOCK) throw new IllegalArgumentException("--cache " + ByteSize.format(cache) + " is too small: give at least 64KiB (16 blocks)");
            if (cache > (1L << 30)) throw new IllegalArgumentException("--cache " + ByteSize.format(cache) + " is more than one cache region holds here: give at most 1GiB");
            List<Integer> trackings = switch (tracking) {
                case "line" -> List.of(64);
                case "page" -> List.of(BLOCK);
                case "both" -> List.of(64, BLOCK);
                default -> throw new IllegalArgumentException("--tracking '" + tracking + "' is not one of line, page, both");
            };
            if (!transport.equals("tcp") && !transport.equals("rdma")) throw new IllegalArgumentException("--transport '" + transport + "' is not tcp or rdma");
            boolean rdma = transport.equals("rdma");
            if (rdma && linkMbps != null && linkMbps > 0) {
                throw new IllegalArgumentException("--link-mbps " + linkMbps + " emulates a link over TCP: with --transport rdma leave it out (or give 0)");
            }
            long link = linkMbps != null ? linkMbps : rdma ? 0 : DEFAULT_LINK_MBPS;
            return new Settings(agents, size, cache, Workload.parse(workload), trackings, Cli.inRange("--seconds", seconds, 1, 600),
                    Cli.inRange("--threads", threads, 1, 64), seed, json, Cli.inRange("--link-mbps", link, 0, 1_000_000), rdma ? address : null);
        }
    }

    /** {@code rdmaAddress}: null over TCP, else the RDMA device address the agents serve RDMA on. */
    record Settings(int agents, long size, long cache, Workload workload, List<Integer> trackings, int seconds, int threads,
                    long seed, boolean json, long linkMbps, String rdmaAddress) {

        /** Reads the demo's flags; throws IllegalArgumentException saying which value is wrong. */
        static Settings parse(String[] args) {
            return Cli.of(new Flags(), EnvironmentDefaults.NONE).read(args).settings();
        }
    }

    static void run(Settings s) throws InterruptedException {
        if (s.rdmaAddress() != null) {
            // Before anything starts: outside an RDMA host the demo stops here, saying why.
            RdmaSupport.Status rdma = RdmaSupport.probe();
            if (!rdma.available()) throw new IllegalStateException("--transport rdma cannot run here: " + rdma.reason());
        }
        long slab = Math.min(8L << 20, Long.highestOneBit(s.size()));
        long size = (s.size() + slab - 1) / slab * slab;
        int replication = Math.min(2, s.agents());
        long slabsPerAgent = (size / slab * replication + s.agents() - 1) / s.agents();
        if (!s.json()) {
            System.out.printf(Locale.ROOT, "farmem demo: %d agents %s, far memory %s (each slab on %d agents), local cache %s (%s of it), %d threads, seed %d%n",
                    s.agents(), s.rdmaAddress() == null ? "on loopback" : "serving RDMA on " + s.rdmaAddress(), ByteSize.format(size), replication,
                    ByteSize.format(s.cache()), percent((double) s.cache() / size), s.threads(), s.seed());
            System.out.printf("workload %s: %s%n", s.workload().id(), s.workload().description());
            if (s.rdmaAddress() != null) {
                System.out.println("network: RDMA (the binding says rdma; misses are RDMA READs into the cache's frames, write-backs RDMA WRITEs)");
            } else if (s.linkMbps() > 0) {
                System.out.printf("network: loopback TCP through an emulated full-duplex %d Mb/s link, headers counted "
                        + "(as many bytes per miss as 100 Gb/s RDMA at 100x the miss rate; --link-mbps 0 for bare loopback)%n", s.linkMbps());
            } else {
                System.out.println("network: bare loopback TCP (bandwidth to spare: bytes written back cost little here)");
            }
            System.out.printf("load phase writes the whole far memory once, then a 2 s run that is not shown warms the JIT; each run: 1 s warm-up, %d s measured, then flush; line and page tracking alternate with the same seed%n%n", s.seconds());
        }
        List<RunResult> results = new ArrayList<>();
        try (EmbeddedPool pool = s.rdmaAddress() == null ? EmbeddedPool.start(s.agents(), slabsPerAgent * slab, slab)
                : EmbeddedPool.startRdma(s.agents(), slabsPerAgent * slab, slab, s.rdmaAddress())) {
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
            String check = check(binding, s.cache(), s.seed());
            if (!s.json()) System.out.println(check);
        }
        if (!s.json()) System.out.print(table(results));
    }

    /**
     * The demo's closing check: a pattern written over the whole far memory through the demo's cache (so most of it is
     * evicted and written back), flushed, then read back by a fresh far memory from the agents, every long compared.
     * Throws saying where the first difference is.
     */
    static String check(Binding binding, long cache, long seed) {
        try (FarMemory mem = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(cache))) {
            FarBuffer buf = mem.buffer();
            for (long at = 0; at < mem.size(); at += 8) buf.putLong(at, pattern(seed, at));
            mem.flush();
        }
        try (FarMemory fresh = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(cache))) {
            FarBuffer buf = fresh.buffer();
            for (long at = 0; at < fresh.size(); at += 8) {
                long got = buf.getLong(at);
                if (got != pattern(seed, at)) {
                    throw new IllegalStateException(String.format(Locale.ROOT, "check failed: far address %d holds %016x after write-back, %016x was written",
                            at, got, pattern(seed, at)));
                }
            }
            return String.format(Locale.ROOT, "check: every byte of the %s far memory written through a %s cache and read back by a fresh one from the agents over %s: all equal",
                    ByteSize.format(fresh.size()), ByteSize.format(cache), binding.transport());
        }
    }

    private static long pattern(long seed, long at) {
        long z = (at + seed * 0x9E3779B97F4A7C15L) * 0xBF58476D1CE4E5B9L;
        return z ^ (z >>> 31);
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
