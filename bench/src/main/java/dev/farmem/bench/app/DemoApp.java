package dev.farmem.bench.app;

import dev.farmem.client.FarLongArray;
import dev.farmem.client.FarMemory;
import dev.farmem.client.sidecar.SidecarUnavailableException;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import java.nio.file.Path;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code java -jar farmem-bench.jar app}: the demo workload of a pod with the farmem sidecar
 * (image {@code farmem-demo}). It attaches to the sidecar's shared memory and, round after round,
 * checks that every long still holds what the last acknowledged round wrote, writes the next
 * round and flushes. It says each step on stdout, and waits (saying why) while the sidecar is
 * away: a restarted sidecar must give back every acknowledged round.
 */
public final class DemoApp {

    @Command(name = "java -jar farmem-bench.jar app", sortOptions = false,
            description = {"The demo workload of a pod with the farmem sidecar: round after round, verify, write and flush.", ""})
    static final class Flags {
        @Option(names = "--shm", paramLabel = "DIR", defaultValue = "/var/run/farmem/shm", description = "the sidecar's shared-memory directory")
        String shm;
        @Option(names = "--bytes", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "2MiB",
                description = "far bytes written each round (more than the cache, so rounds travel)")
        long bytes;
        @Option(names = "--interval-ms", paramLabel = "N", defaultValue = "500", description = "pause between rounds, 0..60000")
        long intervalMs;
        @Option(names = "--rounds", paramLabel = "N", description = "stop after N rounds (default: run until stopped)")
        Long rounds;

        /** The flags checked; throws IllegalArgumentException saying which value is wrong. */
        Flags checked() {
            Cli.inRange("--interval-ms", intervalMs, 0, 60_000);
            if (rounds == null) rounds = Long.MAX_VALUE;
            Cli.inRange("--rounds", rounds, 1, Long.MAX_VALUE);
            return this;
        }
    }

    private DemoApp() {}

    public static void main(String[] args) throws InterruptedException {
        // Only --shm reads the environment: the variable the injected sidecar's applications get.
        Flags flags = Cli.of(new Flags(), EnvironmentDefaults.only(System.getenv(), Map.of("--shm", "FARMEM_SHM_DIR")))
                .parseOrExit(args, Flags::checked);
        String shm = flags.shm;
        long bytes = flags.bytes;
        long interval = flags.intervalMs;
        long rounds = flags.rounds;
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
