package dev.farmem.bench.jmh;

import dev.farmem.bench.workload.WorkloadBench;
import dev.farmem.common.ByteSize;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import java.util.Collection;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./farmem bench jmh}: the hit-path micro-benchmarks with short defaults, and their ratio to a plain buffer. */
public final class JmhMain {

    @Command(name = "./farmem bench jmh", sortOptions = false,
            description = {"The hit-path micro-benchmarks with short defaults, and their ratio to a plain buffer.", ""})
    static final class Flags {
        @Option(names = "--size", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "1GiB",
                description = "far memory, all of it cached, 1MiB..1GiB (1GiB as in docs/benchmarks.md)")
        long size;
        @Option(names = "--forks", paramLabel = "N", defaultValue = "1", description = "JMH forks, 0..10")
        int forks;
        @Option(names = "--iterations", paramLabel = "N", defaultValue = "3", description = "measured iterations, after 2 warm-up iterations")
        int iterations;
        @Option(names = "--seconds", paramLabel = "N", defaultValue = "1", description = "seconds per iteration, 1..60")
        int seconds;
        @Option(names = "--alternate", description = "instead of JMH: far and plain alternating in slices of about a millisecond on one thread; "
                + "the median of the per-round ratios and the ratio of each side's fastest slice (the ratio to trust on a machine other builds load)")
        boolean alternate;
        @Option(names = "--rounds", paramLabel = "N", defaultValue = "101", description = "rounds per figure with --alternate, 3..10000")
        int rounds;

        /** The JMH options, or null with --alternate (then main runs the alternating figures instead). */
        Options options() {
            if (alternate) {
                if (size < (1L << 20) || size > (1L << 30)) throw new IllegalArgumentException("--size must be in 1MiB..1GiB, got " + ByteSize.format(size));
                Cli.inRange("--rounds", rounds, 3, 10_000);
                return null;
            }
            if (size < (1L << 20) || size > (1L << 30)) throw new IllegalArgumentException("--size must be in 1MiB..1GiB, got " + ByteSize.format(size));
            Cli.inRange("--seconds", seconds, 1, 60);
            return new OptionsBuilder()
                    .include(HitPathBenchmark.class.getName())
                    .param("size", ByteSize.format(size))
                    .forks(Cli.inRange("--forks", forks, 0, 10))
                    .warmupIterations(2)
                    .warmupTime(TimeValue.seconds(seconds))
                    .measurementIterations(Cli.inRange("--iterations", iterations, 1, 100))
                    .measurementTime(TimeValue.seconds(seconds))
                    .threads(1)
                    .build();
        }
    }

    private JmhMain() {}

    public static void main(String[] args) throws Exception {
        Flags flags = new Flags();
        Options options = Cli.of(flags, EnvironmentDefaults.NONE).parseOrExit(args, Flags::options);
        if (options == null) {
            System.out.println(WorkloadBench.machine());
            HitPathAlternating.run(flags.size, flags.rounds);
            return;
        }
        Collection<RunResult> results = new Runner(options).run();
        Map<String, double[]> scores = new HashMap<>();
        for (RunResult r : results) {
            String name = r.getParams().getBenchmark();
            name = name.substring(name.lastIndexOf('.') + 1);
            scores.put(name, new double[] {r.getPrimaryResult().getScore(), r.getPrimaryResult().getScoreError()});
        }
        System.out.println();
        System.out.println(WorkloadBench.machine());
        for (String op : new String[] {"Read", "Write"}) {
            for (String kind : new String[] {"Random", "Sequential"}) {
                double[] far = scores.get("far" + kind + op);
                double[] plain = scores.get("plain" + kind + op);
                if (far == null || plain == null) continue;
                System.out.printf(Locale.ROOT, "hit path, %-10s 8-byte %-6s far %.2f ± %.2f ns/op, plain off-heap %.2f ± %.2f ns/op, ratio %.2fx  (%s)%n",
                        kind.toLowerCase(Locale.ROOT), op.toLowerCase(Locale.ROOT) + "s:", far[0], far[1], plain[0], plain[1], far[0] / plain[0],
                        op.equals("Write") ? "report" : kind.equals("Random") ? "target <= 1.5x" : "target <= 2x");
            }
        }
    }
}
