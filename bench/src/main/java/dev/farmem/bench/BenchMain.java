package dev.farmem.bench;

import java.lang.reflect.InvocationTargetException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/** Entry point of the bench jar: {@code ./farmem demo ...} and {@code ./farmem bench <name> ...}. */
public final class BenchMain {

    /** Benchmark name -> class with a {@code main(String[])}; each prints its own figures. */
    private static final Map<String, String> BENCHES = new LinkedHashMap<>();

    static {
        BENCHES.put("transport", "dev.farmem.bench.transport.TransportBench");
        BENCHES.put("workloads", "dev.farmem.bench.workload.WorkloadBench");
        BENCHES.put("jmh", "dev.farmem.bench.jmh.JmhMain");
        BENCHES.put("sidecar", "dev.farmem.bench.sidecar.SidecarBench");
        BENCHES.put("sweep", "dev.farmem.bench.sweep.SweepBench");
    }

    private static final String USAGE = "usage: ./farmem bench <" + String.join("|", BENCHES.keySet()) + "> [--help]";

    private BenchMain() {}

    public static void main(String[] args) throws Throwable {
        if (args.length > 0 && args[0].equals("app")) { // the demo workload of a pod with the farmem sidecar (image farmem-demo)
            run("dev.farmem.bench.app.DemoApp", Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args.length > 0 && args[0].equals("demo")) {
            run("dev.farmem.bench.demo.Demo", Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        String[] rest = args.length > 0 && args[0].equals("bench") ? Arrays.copyOfRange(args, 1, args.length) : args;
        if (rest.length == 0 || rest[0].equals("--help") || rest[0].equals("-h")) {
            System.out.println(USAGE);
            return;
        }
        if (!BENCHES.containsKey(rest[0])) {
            System.err.println("farmem bench: unknown benchmark '" + rest[0] + "': " + USAGE);
            System.exit(2);
        }
        run(BENCHES.get(rest[0]), Arrays.copyOfRange(rest, 1, rest.length));
    }

    private static void run(String className, String[] args) throws Throwable {
        Class<?> type;
        try {
            type = Class.forName(className);
        } catch (ClassNotFoundException e) {
            System.err.println("farmem: " + className + " is not in this build");
            System.exit(2);
            return;
        }
        try {
            type.getMethod("main", String[].class).invoke(null, (Object) args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
