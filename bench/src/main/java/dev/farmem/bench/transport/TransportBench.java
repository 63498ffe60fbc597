package dev.farmem.bench.transport;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.WriteBatch;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.EnvironmentDefaults;
import dev.farmem.transport.tcp.EventLoops;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import dev.farmem.transport.rdma.RdmaOptions;
import dev.farmem.transport.rdma.RdmaTransport;
import dev.farmem.transport.wire.Protocol;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.HdrHistogram.Histogram;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./farmem bench transport}: the data path of one client and one in-process agent over
 * loopback TCP, next to a plain socket request/response with the same byte counts, measured
 * alternately in the same run. Prints 4 KiB READ latency at queue depth 1 (p50, p99), pipelined
 * 4 KiB READ throughput and pipelined WRITEV throughput (4 dirty lines of 64 B per request),
 * each as the median of the rounds with the spread, and the ratio farmem / plain.
 *
 * <p>{@code --transport rdma [--address IP]}: the same figures over RDMA (the agent serves RDMA on an address of an RDMA
 * device, 10.215.0.2 in the e2e/rdma-vm guest); there is no plain-socket side, the floor to compare with is
 * perftest's {@code ib_read_lat} / {@code ib_read_bw} on the same device, which each round also runs (as processes: server and
 * client on --address) unless {@code --perftest-device none}; the last table sets farmem against them.
 */
public final class TransportBench {

    static final int BLOCK = 4096;
    static final int LINE = 64;
    static final long SLAB = 16L << 20;

    @Command(name = "./farmem bench transport", sortOptions = false,
            description = {"The data path of one client and one in-process agent over loopback TCP, next to a plain socket with the same byte "
                + "counts. Each round measures every figure for --seconds on farmem and on a plain socket, alternating; first farmem alone "
                + "runs for --warmup-seconds (the JIT needs that long on a busy 2-core machine), then --warmup rounds run like the others "
                + "and are not counted; about warmup-seconds + 6 x (warmup + rounds) x seconds.", ""})
    static final class Flags {
        @Option(names = "--rounds", paramLabel = "N", defaultValue = "3", description = "measured rounds, at least 1")
        int rounds;
        @Option(names = "--warmup-seconds", paramLabel = "S", defaultValue = "10", description = "farmem alone before the rounds, 0..120")
        double warmupSeconds;
        @Option(names = "--warmup", paramLabel = "N", defaultValue = "1", description = "rounds measured and not counted, at least 0")
        int warmup;
        @Option(names = "--seconds", paramLabel = "S", defaultValue = "1.0", description = "per figure and side, more than 0, at most 30")
        double seconds;
        @Option(names = "--depth", paramLabel = "N", defaultValue = "32", description = "requests in flight when pipelined, 1..4096")
        int depth;
        @Option(names = "--transport", paramLabel = "KIND", defaultValue = "tcp",
                description = "tcp, or rdma: the same figures over RDMA with the agent on --address; no plain-socket side (compare with perftest's "
                        + "ib_read_lat and ib_read_bw on the same device)")
        String transport;
        @Option(names = "--address", paramLabel = "IP", defaultValue = "10.215.0.2",
                description = "with --transport rdma: an address of the RDMA device (10.215.0.2 in the e2e/rdma-vm guest)")
        String address;
        @Option(names = "--perftest-device", paramLabel = "DEV", defaultValue = "rxe0",
                description = "with --transport rdma: the device perftest's ib_read_lat and ib_read_bw run on each round, side by side with farmem "
                        + "(needs Debian's perftest); none: skip them")
        String perftestDevice;

        /** The flags checked; throws IllegalArgumentException saying which value is wrong. */
        Flags checked() {
            Cli.inRange("--rounds", rounds, 1, Integer.MAX_VALUE);
            Cli.inRange("--warmup", warmup, 0, Integer.MAX_VALUE);
            Cli.inRange("--depth", depth, 1, 4096);
            if (!transport.equals("tcp") && !transport.equals("rdma")) throw new IllegalArgumentException("--transport " + transport + " is not tcp or rdma");
            if (warmupSeconds < 0 || warmupSeconds > 120) throw new IllegalArgumentException("--warmup-seconds " + warmupSeconds + " is not in 0..120");
            if (seconds <= 0 || seconds > 30) throw new IllegalArgumentException("--seconds " + seconds + " must be more than 0 and at most 30");
            return this;
        }
    }

    private TransportBench() {}

    public static void main(String[] args) throws Exception {
        // DiSNI logs every connection's set-up and tear-down at INFO: over RDMA that buries the figures. Unless asked for.
        if (System.getProperty("org.slf4j.simpleLogger.log.com.ibm.disni") == null) System.setProperty("org.slf4j.simpleLogger.log.com.ibm.disni", "warn");
        Flags f = Cli.of(new Flags(), EnvironmentDefaults.NONE).parseOrExit(args, Flags::checked);
        int rounds = f.rounds;
        int warmup = f.warmup;
        double warmupSeconds = f.warmupSeconds;
        double seconds = f.seconds;
        int depth = f.depth;
        String transport = f.transport;
        String address = f.address;
        boolean rdma = transport.equals("rdma");
        long nanos = (long) (seconds * 1e9);
        System.out.printf(Locale.ROOT, "machine: %d cpus, %s %s, agent netty %s, client netty nio (callers write), jvm flags %s%n", Runtime.getRuntime().availableProcessors(),
                System.getProperty("java.vm.name"), System.getProperty("java.version"), EventLoops.kind(),
                ManagementFactory.getRuntimeMXBean().getInputArguments());
        System.out.printf(Locale.ROOT, "run: %.0f s farmem warm-up, %d warm-up + %d rounds x %.1f s per figure and side, pipeline depth %d, one client connection, %s%n",
                warmupSeconds, warmup, rounds, seconds, depth, rdma ? "transport rdma on " + address : "one agent I/O thread");

        try (EmbeddedPool pool = rdma ? EmbeddedPool.startRdma(1, SLAB, SLAB, address) : EmbeddedPool.start(1, SLAB, SLAB);
             Transport tcp = rdma ? RdmaTransport.open(RdmaOptions.defaults().withDepth(Math.max(depth, 64)))
                     : new NettyTransport(TcpOptions.defaults().withIoThreads(1));
             PlainSocketPeer peer = new PlainSocketPeer()) {
            Binding b = pool.bind("bench", SLAB, 1, BLOCK);
            Binding.Location loc = b.locate(0).get(0);
            MemoryNodeConnection c = tcp.connect(loc.endpoint(), b.nodes().get(loc.node()).token()).join();
            int slab = loc.remoteSlab();
            int writevPayload = Protocol.WRITEV_BODY_HEADER + 4 * (Protocol.SEGMENT_HEADER + LINE);
            // Over RDMA the buffers are registered with the transport, as a cache's region is (READs land with no copy), and
            // the second column is the same requests into and from unregistered buffers, copied through the staging slots.
            ByteBuffer memory = ByteBuffer.allocateDirect(depth * BLOCK);
            ByteBuffer copied = ByteBuffer.allocateDirect(depth * BLOCK);
            try (Transport.Registration registered = tcp.register(memory);
                 PlainSocketClient plainRead = new PlainSocketClient(peer.address(), Protocol.READ_BODY, BLOCK);
                 PlainSocketClient plainWrite = new PlainSocketClient(peer.address(), writevPayload, 0)) {
                long warmEnd = System.nanoTime() + (long) (warmupSeconds * 1e9);
                long slice = Math.min(nanos, 500_000_000L);
                while (System.nanoTime() < warmEnd) {
                    qd1(c, slab, slice / 4, memory);
                    readThroughput(tcp, c, slab, depth, slice, memory);
                    writevThroughput(tcp, c, slab, depth, slice, memory);
                    if (rdma) {
                        qd1(c, slab, slice / 4, copied);
                        readThroughput(tcp, c, slab, depth, slice, copied);
                        writevThroughput(tcp, c, slab, depth, slice, copied);
                    }
                }
                // Warm-up rounds are measured like the others and thrown away: on a busy machine the JIT
                // needs seconds before the Netty path reaches its steady state.
                List<double[]> farmemQd1 = new ArrayList<>();
                List<double[]> plainQd1 = new ArrayList<>();
                double[] farmemReads = new double[rounds];
                double[] plainReads = new double[rounds];
                double[] farmemWrites = new double[rounds];
                double[] plainWrites = new double[rounds];
                Perftest perftest = rdma && !f.perftestDevice.equals("none") ? new Perftest(f.perftestDevice, address) : null;
                List<double[]> perftestQd1 = new ArrayList<>();
                double[] perftestReads = new double[rounds];
                for (int r = -warmup; r < rounds; r++) {
                    // Over RDMA there is no plain-socket side: perftest on the same device is the floor, and the second column is
                    // the same transport copying through its staging (buffers not registered).
                    double[] fq = qd1(c, slab, nanos, memory);
                    double[] pq = rdma ? qd1(c, slab, nanos, copied) : plainQd1(plainRead, nanos);
                    double fr = readThroughput(tcp, c, slab, depth, nanos, memory);
                    double pr = rdma ? readThroughput(tcp, c, slab, depth, nanos, copied) : plainRead.pipelined(depth, nanos);
                    double fw = writevThroughput(tcp, c, slab, depth, nanos, memory);
                    double pw = rdma ? writevThroughput(tcp, c, slab, depth, nanos, copied) : plainWrite.pipelined(depth, nanos);
                    System.out.printf(Locale.ROOT, "%s %d: READ QD1 p50 %.1f/%.1f us, READ %.1f/%.1f kops/s, WRITEV %.1f/%.1f kops/s (%s)%n",
                            r < 0 ? "warm-up" : "round", r < 0 ? r + warmup + 1 : r + 1, fq[0] / 1e3, pq[0] / 1e3, fr / 1e3, pr / 1e3, fw / 1e3, pw / 1e3,
                            rdma ? "registered/unregistered" : "farmem/plain");
                    if (perftest != null) {
                        double[] lat = perftest.readLatency(BLOCK, 2000);
                        double bw = perftest.readOpsPerSecond(BLOCK, depth, (int) Math.max(1, Math.round(seconds)));
                        System.out.printf(Locale.ROOT, "%s %d: ib_read_lat typical %.1f us, p99 %.1f us, ib_read_bw depth %d %.1f kops/s%n",
                                r < 0 ? "warm-up" : "round", r < 0 ? r + warmup + 1 : r + 1, lat[0] / 1e3, lat[1] / 1e3, depth, bw / 1e3);
                        if (r >= 0) {
                            perftestQd1.add(lat);
                            perftestReads[r] = bw;
                        }
                    }
                    if (r < 0) continue;
                    farmemQd1.add(fq);
                    plainQd1.add(pq);
                    farmemReads[r] = fr;
                    plainReads[r] = pr;
                    farmemWrites[r] = fw;
                    plainWrites[r] = pw;
                }
                double[] fP50 = farmemQd1.stream().mapToDouble(x -> x[0]).toArray();
                double[] fP99 = farmemQd1.stream().mapToDouble(x -> x[1]).toArray();
                double[] pP50 = plainQd1.stream().mapToDouble(x -> x[0]).toArray();
                double[] pP99 = plainQd1.stream().mapToDouble(x -> x[1]).toArray();
                System.out.println();
                System.out.printf(Locale.ROOT, "%-34s %18s %18s %8s %s%n", "figure (median [min..max])", rdma ? "rdma registered" : "farmem " + transport,
                        rdma ? "rdma unregistered" : "plain socket", "ratio", "target");
                row("4KiB READ QD1 p50 (us)", fP50, pP50, 1e-3, rdma ? "report" : "p50 <= 30 us");
                row("4KiB READ QD1 p99 (us)", fP99, pP99, 1e-3, rdma ? "report" : "p99 <= 150 us");
                row("4KiB READ pipelined (kops/s)", farmemReads, plainReads, 1e-3, "report");
                row("4KiB READ pipelined (GB/s)", scale(farmemReads, BLOCK / 1e9), scale(plainReads, BLOCK / 1e9), 1, "report");
                row("WRITEV 4x64B pipelined (kops/s)", farmemWrites, plainWrites, 1e-3, "report");
                row("WRITEV payload (MB/s)", scale(farmemWrites, 4 * LINE / 1e6), scale(plainWrites, 4 * LINE / 1e6), 1, "report");
                System.out.println(rdma ? "ratio = registered buffers (as a cache's frames: READs land with no copy; WRITEVs are copied either way) / unregistered;"
                        + " compare both with perftest's ib_read_lat and ib_read_bw on the same device"
                        : "ratio = farmem / plain (for latency, higher is slower; for throughput, lower is slower)");
                if (perftest != null) {
                    System.out.println();
                    System.out.printf(Locale.ROOT, "%-34s %18s %18s %8s %s%n", "figure (median [min..max])", "rdma registered", "perftest", "ratio", "target");
                    row("4KiB READ QD1 p50 (us)", fP50, perftestQd1.stream().mapToDouble(x -> x[0]).toArray(), 1e-3, "<= 1.5x ib_read_lat");
                    row("4KiB READ QD1 p99 (us)", fP99, perftestQd1.stream().mapToDouble(x -> x[1]).toArray(), 1e-3, "report");
                    row("4KiB READ pipelined (kops/s)", farmemReads, perftestReads, 1e-3, "report (ib_read_bw)");
                    System.out.println("ratio = farmem / perftest on the same device in the same rounds (ib_read_lat's typical latency as its p50)");
                }
            }
            c.close();
        }
    }

    /** Sequential 4 KiB READs at random blocks into {@code memory}; returns {p50, p99} in nanoseconds. */
    static double[] qd1(MemoryNodeConnection c, int slab, long nanos, ByteBuffer memory) {
        Random rnd = new Random(1);
        ByteBuffer dst = memory.slice(0, BLOCK);
        Histogram samples = new Histogram(3);
        long end = System.nanoTime() + nanos;
        while (true) {
            long t = System.nanoTime();
            if (t > end) break;
            c.read(slab, (long) rnd.nextInt((int) (SLAB / BLOCK)) * BLOCK, dst).join();
            samples.recordValue(System.nanoTime() - t);
        }
        return percentiles(samples);
    }

    static double[] plainQd1(PlainSocketClient plain, long nanos) throws Exception {
        Histogram samples = new Histogram(3);
        long end = System.nanoTime() + nanos;
        while (System.nanoTime() < end) samples.recordValue(plain.roundTrip());
        return percentiles(samples);
    }

    /** 4 KiB READs kept {@code depth} deep, into {@code depth} blocks of {@code memory}; returns ops/s. */
    static double readThroughput(Transport transport, MemoryNodeConnection c, int slab, int depth, long nanos, ByteBuffer memory) throws InterruptedException {
        ArrayBlockingQueue<ByteBuffer> free = new ArrayBlockingQueue<>(depth);
        for (int i = 0; i < depth; i++) free.add(memory.slice(i * BLOCK, BLOCK));
        AtomicLong done = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Random rnd = new Random(2);
        long start = System.nanoTime();
        long end = start + nanos;
        List<ByteBuffer> ready = new ArrayList<>(depth);
        while (System.nanoTime() < end && failure.get() == null) {
            // Like the plain client: wait for room, then send everything there is room for.
            ready.add(free.take());
            free.drainTo(ready);
            // and, like the plain client, write the burst at once: a batch of misses goes out this way (Transport.gather)
            try (Transport.Gather burst = transport.gather()) {
                for (ByteBuffer dst : ready) {
                    c.read(slab, (long) rnd.nextInt((int) (SLAB / BLOCK)) * BLOCK, dst).whenComplete((v, e) -> {
                        if (e != null) failure.set(e);
                        done.incrementAndGet();
                        free.add(dst);
                    });
                }
            }
            ready.clear();
        }
        for (int i = 0; i < depth; i++) free.take();
        long elapsed = System.nanoTime() - start;
        if (failure.get() != null) throw new IllegalStateException("READ failed during the benchmark", failure.get());
        return done.get() * 1e9 / elapsed;
    }

    /** WRITEVs of 4 dirty lines of a block of {@code memory} to random places in a random block, kept {@code depth} deep; returns ops/s. */
    static double writevThroughput(Transport transport, MemoryNodeConnection c, int slab, int depth, long nanos, ByteBuffer memory) throws InterruptedException {
        Semaphore window = new Semaphore(depth);
        AtomicLong done = new AtomicLong();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        ByteBuffer block = memory.slice(0, BLOCK);
        WriteBatch batch = new WriteBatch(4);
        Random rnd = new Random(3);
        long start = System.nanoTime();
        long end = start + nanos;
        while (System.nanoTime() < end && failure.get() == null) {
            window.acquire();
            int room = 1 + window.drainPermits();
            try (Transport.Gather burst = transport.gather()) {
                for (int n = 0; n < room; n++) {
                    long base = (long) rnd.nextInt((int) (SLAB / BLOCK)) * BLOCK;
                    int line = rnd.nextInt(16);
                    batch.clear();
                    for (int i = 0; i < 4; i++, line += 1 + rnd.nextInt(12)) batch.add(base + line * LINE, block, line * LINE, LINE);
                    c.writev(slab, batch).whenComplete((v, e) -> {
                        if (e != null) failure.set(e);
                        done.incrementAndGet();
                        window.release();
                    });
                }
            }
        }
        window.acquire(depth);
        long elapsed = System.nanoTime() - start;
        if (failure.get() != null) throw new IllegalStateException("WRITEV failed during the benchmark", failure.get());
        return done.get() * 1e9 / elapsed;
    }

    /** {p50, p99} of the recorded latencies. */
    static double[] percentiles(Histogram samples) {
        return new double[] {samples.getValueAtPercentile(50), samples.getValueAtPercentile(99)};
    }

    static double[] scale(double[] values, double factor) {
        return Arrays.stream(values).map(v -> v * factor).toArray();
    }

    static void row(String name, double[] farmem, double[] plain, double unit, String target) {
        double f = median(farmem) * unit;
        double p = median(plain) * unit;
        if (Double.isNaN(p)) { // no plain side (RDMA)
            System.out.printf(Locale.ROOT, "%-34s %18s %18s %8s %s%n", name, spread(farmem, unit), "-", "-", target);
            return;
        }
        System.out.printf(Locale.ROOT, "%-34s %18s %18s %8.2f %s%n", name, spread(farmem, unit), spread(plain, unit), f / p, target);
    }

    static String spread(double[] values, double unit) {
        double[] s = values.clone();
        Arrays.sort(s);
        return String.format(Locale.ROOT, "%.1f [%.1f..%.1f]", median(values) * unit, s[0] * unit, s[s.length - 1] * unit);
    }

    static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
