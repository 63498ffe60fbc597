package dev.farmem.bench.jmh;

import dev.farmem.common.CommandLine;
import dev.farmem.common.ByteSize;
import java.util.Collection;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/** {@code ./farmem bench jmh}: the hit-path micro-benchmarks with short defaults, and their ratio to a plain buffer. */
public final class JmhMain {

    static final String USAGE = """
            usage: ./farmem bench jmh [options]
              --size SIZE        far memory, all of it cached (default 1GiB, as docs/benchmarks.md)
              --forks N          JMH forks (default 1)
              --iterations N     measured iterations (default 3), after 2 warm-up iterations
              --seconds N        seconds per iteration (default 1)
            """;

    private JmhMain() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("--help")) {
            System.out.print(USAGE);
            return;
        }
        Options options;
        try {
            CommandLine cl = new CommandLine(args, Set.of("size", "forks", "iterations", "seconds"), Set.of());
            long size = cl.bytes("size", 1L << 30);
            if (size < (1L << 20) || size > (1L << 30)) throw new IllegalArgumentException("--size must be in 1MiB..1GiB, got " + ByteSize.format(size));
            int seconds = (int) cl.integer("seconds", 1, 1, 60);
            options = new OptionsBuilder()
                    .include(HitPathBenchmark.class.getName())
                    .param("size", ByteSize.format(size))
                    .forks((int) cl.integer("forks", 1, 0, 10))
                    .warmupIterations(2)
                    .warmupTime(TimeValue.seconds(seconds))
                    .measurementIterations((int) cl.integer("iterations", 3, 1, 100))
                    .measurementTime(TimeValue.seconds(seconds))
                    .threads(1)
                    .build();
        } catch (IllegalArgumentException e) {
            System.err.println("farmem bench jmh: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
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
        System.out.println(dev.farmem.bench.workload.WorkloadBench.machine());
        for (String kind : new String[] {"Random", "Sequential"}) {
            double[] far = scores.get("far" + kind + "Read");
            double[] plain = scores.get("plain" + kind + "Read");
            if (far == null || plain == null) continue;
            System.out.printf(Locale.ROOT, "hit path, %-10s 8-byte reads: far %.2f ± %.2f ns/op, plain off-heap %.2f ± %.2f ns/op, ratio %.2fx  (target <= 1.5x)%n",
                    kind.toLowerCase(Locale.ROOT), far[0], far[1], plain[0], plain[1], far[0] / plain[0]);
        }
    }
}
