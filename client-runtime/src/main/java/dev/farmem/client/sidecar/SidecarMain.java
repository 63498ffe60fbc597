package dev.farmem.client.sidecar;

import dev.farmem.client.FarMemoryOptions;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.HTTPServer;
import io.prometheus.client.hotspot.DefaultExports;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./farmem sidecar}: serves one claim to the application processes of a pod over shared
 * memory. Every flag has an environment variable (the injected container sets those).
 */
public final class SidecarMain {

    private static final Logger log = LoggerFactory.getLogger(SidecarMain.class);

    /** The sidecar's flags, each also read from its FARMEM_* variable (the injected container sets those). */
    @Command(name = "./farmem sidecar", sortOptions = false,
            description = {"Serves one claim to the application processes of a pod over shared memory.", ""})
    static final class Flags {
        @Option(names = "--binding", paramLabel = "PATH", defaultValue = "/var/run/farmem/binding",
                description = "binding file or mounted binding Secret dir")
        Path binding;
        @Option(names = "--shm", paramLabel = "DIR", defaultValue = "/var/run/farmem/shm",
                description = "shared-memory directory (tmpfs / emptyDir); applications read the same variable")
        Path shm;
        @Option(names = "--cache-bytes", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "64Mi",
                description = "local cache, e.g. 256Mi")
        long cacheBytes;
        @Option(names = "--tracking-bytes", paramLabel = "N", defaultValue = "64", description = "bytes per dirty bit, 64..block size")
        int trackingBytes;
        @Option(names = "--prefetch-depth", paramLabel = "N", defaultValue = "8",
                description = "blocks fetched ahead of a sequential stream, 0 = off")
        int prefetchDepth;
        @Option(names = "--metrics-address", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:9091",
                description = "/metrics address; --metrics-address= for none")
        String metricsAddress;
        @Option(names = "--poll-micros", paramLabel = "N", defaultValue = "" + SidecarOptions.DEFAULT_POLL_MICROS,
                description = "poll while fetching and N us after, no doorbells meanwhile; 0 = doorbells only")
        long pollMicros;
        @Option(names = "--max-clients", paramLabel = "N", defaultValue = "16", description = "application processes served at once")
        int maxClients;
        @Option(names = "--threads-per-client", paramLabel = "N", defaultValue = "64",
                description = "threads of one application using far memory")
        int threadsPerClient;
        @Option(names = "--lease-timeout-ms", paramLabel = "N", defaultValue = "10000", description = "reclaim a silent application after N ms")
        int leaseTimeoutMs;
        @Option(names = "--sidecar-timeout-ms", paramLabel = "N", defaultValue = "5000",
                description = "applications give up on a silent sidecar after N ms")
        int sidecarTimeoutMs;
    }

    /** The sidecar's command line over {@code env}. */
    static Cli<Flags> cli(Map<String, String> env) {
        return Cli.of(new Flags(), EnvironmentDefaults.everyOption(env).renamed("--shm", "FARMEM_SHM_DIR"));
    }

    private SidecarMain() {}

    public static void main(String[] args) throws Exception {
        Flags flags = cli(System.getenv()).parseOrExit(args, f -> f);
        Sidecar sidecar;
        HTTPServer metricsServer = null;
        try {
            Binding binding = Binding.read(flags.binding);
            CollectorRegistry registry = CollectorRegistry.defaultRegistry;
            FarMemoryOptions engine = FarMemoryOptions.defaults()
                    .cacheBytes(flags.cacheBytes)
                    .trackingGranularity(flags.trackingBytes)
                    .prefetchDepth(flags.prefetchDepth)
                    .registry(registry);
            SidecarOptions options = SidecarOptions.defaults()
                    .directory(flags.shm)
                    .bindingPath(flags.binding)
                    .pollMicros(flags.pollMicros)
                    .maxClients(flags.maxClients)
                    .threadsPerClient(flags.threadsPerClient)
                    .leaseTimeoutMillis(flags.leaseTimeoutMs)
                    .sidecarTimeoutMillis(flags.sidecarTimeoutMs)
                    .engine(engine);
            String metrics = flags.metricsAddress;
            sidecar = Sidecar.start(binding, options);
            if (!metrics.isEmpty()) {
                DefaultExports.register(registry);
                int colon = metrics.lastIndexOf(':');
                if (colon < 0) throw new IllegalArgumentException("--metrics-address " + metrics + " must be host:port");
                metricsServer = new HTTPServer(new InetSocketAddress(metrics.substring(0, colon),
                        Integer.parseInt(metrics.substring(colon + 1))), registry, true);
            }
        } catch (IllegalArgumentException | IllegalStateException | IOException e) {
            log.error("farmem sidecar: {}", e.getMessage()); // one line that says what to do, no stack trace
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
