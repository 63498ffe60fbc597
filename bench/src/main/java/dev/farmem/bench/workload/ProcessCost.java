package dev.farmem.bench.workload;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What the whole bench process (application threads, the client's I/O threads and the in-process agents alike) spent
 * between two points: CPU time, and context switches of all its threads (Linux only: NaN elsewhere). Over loopback a
 * miss is mostly CPU and wake-ups, not waiting: these say what a change saves per miss where ops/s alone, on a shared
 * machine, mostly measures the neighbours.
 */
record ProcessCost(long cpuNanos, long switches) {

    private static final Path TASKS = Path.of("/proc/self/task");

    static ProcessCost now() {
        long cpu = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
        return new ProcessCost(cpu, countSwitches());
    }

    /** The cost since {@code earlier}, per {@code n} (misses, say): {CPU microseconds, context switches}. */
    double[] since(ProcessCost earlier, long n) {
        double perN = switches < 0 || earlier.switches < 0 ? Double.NaN : (double) (switches - earlier.switches) / n;
        return new double[] {(cpuNanos - earlier.cpuNanos) / 1e3 / n, perN};
    }

    /** Voluntary and involuntary context switches of the process's live threads; -1 where /proc has no such lines. */
    private static long countSwitches() {
        if (!Files.isDirectory(TASKS)) return -1;
        long total = 0;
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(TASKS)) {
            for (Path t : tasks) {
                try {
                    for (String line : Files.readAllLines(t.resolve("status"))) {
                        if (line.startsWith("voluntary_ctxt_switches:") || line.startsWith("nonvoluntary_ctxt_switches:")) {
                            total += Long.parseLong(line.substring(line.indexOf(':') + 1).trim());
                        }
                    }
                } catch (IOException | NumberFormatException gone) {
                    // the thread ended while we read: its switches are lost to both snapshots' difference alike
                }
            }
        } catch (IOException e) {
            return -1;
        }
        return total;
    }
}
