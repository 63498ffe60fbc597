package dev.farmem.client.sidecar;

import dev.farmem.client.FarMemoryOptions;
import dev.farmem.common.CommandLine;
import dev.farmem.common.binding.Binding;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.HTTPServer;
import io.prometheus.client.hotspot.DefaultExports;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CountDownLatch;

/**
 * {@code ./farmem sidecar}: serves one claim to the application processes of a pod over shared
 * memory. Every flag has an environment variable (the injected container sets those).
 */
public final class SidecarMain {

    private static final String USAGE = """
            usage: ./farmem sidecar [options]
              --binding PATH           binding file or mounted binding Secret dir   (FARMEM_BINDING, default /var/run/farmem/binding)
              --shm DIR                shared-memory directory (tmpfs / emptyDir)    (FARMEM_SHM_DIR, default /var/run/farmem/shm)
              --cache-bytes SIZE       local cache, e.g. 256Mi                       (FARMEM_CACHE_BYTES, default 64Mi)
              --tracking-bytes N       bytes per dirty bit, 64..block size           (FARMEM_TRACKING_BYTES, default 64)
              --prefetch-depth N       blocks fetched ahead of a sequential stream   (FARMEM_PREFETCH_DEPTH, default 8, 0 = off)
              --metrics-address H:P    /metrics address; --metrics-address= for none (FARMEM_METRICS_ADDRESS, default 0.0.0.0:9091)
              --poll-micros N          poll while fetching and N us after, no bells  (FARMEM_POLL_MICROS, default 100, 0 = doorbells only)
              --max-clients N          application processes served at once          (FARMEM_MAX_CLIENTS, default 16)
              --threads-per-client N   threads of one application using far memory   (FARMEM_THREADS_PER_CLIENT, default 64)
              --lease-timeout-ms N     reclaim a silent application after N ms       (FARMEM_LEASE_TIMEOUT_MS, default 10000)
              --sidecar-timeout-ms N   applications give up on a silent sidecar      (FARMEM_SIDECAR_TIMEOUT_MS, default 5000)
            """;

    private static final Set<String> OPTIONS = Set.of("binding", "shm", "cache-bytes", "tracking-bytes", "prefetch-depth", "metrics-address",
            "poll-micros", "max-clients", "threads-per-client", "lease-timeout-ms", "sidecar-timeout-ms");

    private SidecarMain() {}

    public static void main(String[] args) throws Exception {
        CommandLine flags;
        try {
            flags = new CommandLine(args, OPTIONS, Set.of("help"), System::getenv);
        } catch (IllegalArgumentException e) {
            System.err.println("farmem sidecar: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
            return;
        }
        if (flags.flag("help")) {
            System.out.print(USAGE);
            return;
        }
        Sidecar sidecar;
        HTTPServer metricsServer = null;
        try {
            Path bindingPath = Path.of(flags.string("binding", "/var/run/farmem/binding"));
            Binding binding = Binding.read(bindingPath);
            CollectorRegistry registry = CollectorRegistry.defaultRegistry;
            FarMemoryOptions engine = FarMemoryOptions.defaults()
                    .cacheBytes(flags.bytes("cache-bytes", 64L << 20))
                    .trackingGranularity((int) flags.integer("tracking-bytes", 64, 0, Integer.MAX_VALUE))
                    .prefetchDepth((int) flags.integer("prefetch-depth", 8, 0, Integer.MAX_VALUE))
                    .registry(registry);
            SidecarOptions options = SidecarOptions.defaults()
                    .directory(Path.of(flags.string("shm", "FARMEM_SHM_DIR", "/var/run/farmem/shm"))) // the variable applications read too
                    .bindingPath(bindingPath)
                    .pollMicros(flags.integer("poll-micros", SidecarOptions.DEFAULT_POLL_MICROS, 0, Long.MAX_VALUE))
                    .maxClients((int) flags.integer("max-clients", 16, 0, Integer.MAX_VALUE))
                    .threadsPerClient((int) flags.integer("threads-per-client", 64, 0, Integer.MAX_VALUE))
                    .leaseTimeoutMillis((int) flags.integer("lease-timeout-ms", 10_000, 0, Integer.MAX_VALUE))
                    .sidecarTimeoutMillis((int) flags.integer("sidecar-timeout-ms", 5_000, 0, Integer.MAX_VALUE))
                    .engine(engine);
            String metrics = flags.string("metrics-address", "0.0.0.0:9091");
            sidecar = Sidecar.start(binding, options);
            if (!metrics.isEmpty()) {
                DefaultExports.register(registry);
                int colon = metrics.lastIndexOf(':');
                if (colon < 0) throw new IllegalArgumentException("--metrics-address " + metrics + " must be host:port");
                metricsServer = new HTTPServer(new InetSocketAddress(metrics.substring(0, colon),
                        Integer.parseInt(metrics.substring(colon + 1))), registry, true);
            }
        } catch (IllegalArgumentException | IllegalStateException | IOException e) {
            System.err.println("farmem sidecar: " + e.getMessage());
            System.exit(2);
            return;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        HTTPServer server = metricsServer;
        Runtime.getRuntime().addShutdownHook(new Thread(() -> { // SIGTERM: write every dirty line back, then go
            try {
                sidecar.close();
                System.out.println("farmem sidecar: stopped, every dirty line written back");
            } catch (RuntimeException e) {
                System.out.println("farmem sidecar: stopped, but the last write-back failed: " + e.getMessage());
            } finally {
                if (server != null) server.close();
                stopped.countDown();
            }
        }, "farmem-sidecar-shutdown"));
        System.out.println("farmem sidecar: serving claim " + sidecar.claim() + " in " + sidecar.directory()
                + (sidecar.reattached() ? " (re-attached to the cache a previous sidecar left)" : ""));
        stopped.await();
    }
}
