package dev.farmem.bench.app;

import dev.farmem.common.CommandLine;
import dev.farmem.client.FarLongArray;
import dev.farmem.client.FarMemory;
import dev.farmem.client.sidecar.SidecarUnavailableException;
import java.nio.file.Path;
import java.util.Set;

/**
 * {@code java -jar farmem-bench.jar app}: the demo workload of a pod with the farmem sidecar
 * (image {@code farmem-demo}). It attaches to the sidecar's shared memory and, round after round,
 * checks that every long still holds what the last acknowledged round wrote, writes the next
 * round and flushes. It says each step on stdout, and waits (saying why) while the sidecar is
 * away: a restarted sidecar must give back every acknowledged round.
 */
public final class DemoApp {

    static final String USAGE = """
            usage: java -jar farmem-bench.jar app [options]
              --shm DIR            the sidecar's shared-memory directory (FARMEM_SHM_DIR, default /var/run/farmem/shm)
              --bytes SIZE         far bytes written each round (default 2MiB; more than the cache, so rounds travel)
              --interval-ms N      pause between rounds (default 500)
              --rounds N           stop after N rounds (default: run until stopped)
            """;

    private DemoApp() {}

    public static void main(String[] args) throws InterruptedException {
        if (args.length == 1 && args[0].equals("--help")) {
            System.out.print(USAGE);
            return;
        }
        CommandLine cl;
        long bytes;
        long interval;
        long rounds;
        String shm;
        try {
            cl = new CommandLine(args, Set.of("shm", "bytes", "interval-ms", "rounds"), Set.of());
            shm = cl.string("shm", System.getenv().getOrDefault("FARMEM_SHM_DIR", "/var/run/farmem/shm"));
            bytes = cl.bytes("bytes", 2L << 20);
            interval = cl.integer("interval-ms", 500, 0, 60_000);
            rounds = cl.integer("rounds", Long.MAX_VALUE, 1, Long.MAX_VALUE);
        } catch (IllegalArgumentException e) {
            System.err.println("farmem-demo: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
            return;
        }
        try (FarMemory mem = FarMemory.attach(Path.of(shm), 120_000)) {
            long longs = Math.min(bytes, mem.size()) / 8 - 1;
            FarLongArray head = mem.longArray(0, 1); // the last acknowledged round: a restarted app resumes from it
            FarLongArray a = mem.longArray(8, longs);
            System.out.println("farmem-demo: attached to claim " + mem.claim() + " (" + mem.size() + " bytes) through " + shm);
            long started = -1;
            for (;;) {
                try {
                    long acknowledged = head.get(0);
                    if (started < 0) {
                        started = acknowledged;
                        System.out.println("farmem-demo: resuming after round " + acknowledged);
                    }
                    if (acknowledged - started >= rounds) break;
                    long bad = verify(a, longs, acknowledged);
                    if (bad >= 0) {
                        System.out.println("farmem-demo: LOST long " + bad + " of round " + acknowledged + ": read " + Long.toHexString(a.get(bad)));
                        System.exit(1);
                    }
                    if (acknowledged > 0) System.out.println("farmem-demo: round " + acknowledged + " verified");
                    long next = acknowledged + 1;
                    for (long i = 0; i < longs; i++) a.set(i, value(next, i));
                    mem.flush(); // the round is on every replica...
                    head.set(0, next);
                    mem.flush(); // ...before it counts as acknowledged
                    System.out.println("farmem-demo: round " + next + " written and flushed");
                } catch (SidecarUnavailableException e) {
                    System.out.println("farmem-demo: waiting for the sidecar: " + e.getMessage());
                } catch (IllegalStateException e) {
                    System.out.println("farmem-demo: retrying: " + e.getMessage());
                }
                Thread.sleep(interval);
            }
        }
    }

    private static long value(long round, long i) {
        return round << 32 | i;
    }

    /**
     * The first long that holds neither the acknowledged round nor the next one (written, maybe
     * partly, before an interruption), or -1. Round 0: nothing was acknowledged yet.
     */
    private static long verify(FarLongArray a, long longs, long round) {
        if (round == 0) return -1;
        for (long i = 0; i < longs; i++) {
            long v = a.get(i);
            if (v != value(round, i) && v != value(round + 1, i)) return i;
        }
        return -1;
    }
}
