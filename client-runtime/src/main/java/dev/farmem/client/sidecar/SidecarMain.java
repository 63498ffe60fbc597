package dev.farmem.client.sidecar;

import dev.farmem.client.FarMemoryOptions;
import dev.farmem.transport.ByteSize;
import dev.farmem.transport.binding.Binding;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.HTTPServer;
import io.prometheus.client.hotspot.DefaultExports;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
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
              --metrics-address H:P    /metrics address, empty to disable            (FARMEM_METRICS_ADDRESS, default 0.0.0.0:9091)
              --max-clients N          application processes served at once          (FARMEM_MAX_CLIENTS, default 16)
              --threads-per-client N   threads of one application using far memory   (FARMEM_THREADS_PER_CLIENT, default 64)
              --lease-timeout-ms N     reclaim a silent application after N ms       (FARMEM_LEASE_TIMEOUT_MS, default 10000)
              --sidecar-timeout-ms N   applications give up on a silent sidecar      (FARMEM_SIDECAR_TIMEOUT_MS, default 5000)
            """;

    private SidecarMain() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> flags;
        try {
            flags = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("farmem sidecar: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
            return;
        }
        if (flags.containsKey("help")) {
            System.out.print(USAGE);
            return;
        }
        Sidecar sidecar;
        HTTPServer metricsServer = null;
        try {
            Path bindingPath = Path.of(value(flags, "binding", "FARMEM_BINDING", "/var/run/farmem/binding"));
            Binding binding = Binding.read(bindingPath);
            CollectorRegistry registry = CollectorRegistry.defaultRegistry;
            FarMemoryOptions engine = FarMemoryOptions.defaults()
                    .cacheBytes(ByteSize.parse(value(flags, "cache-bytes", "FARMEM_CACHE_BYTES", "64Mi"), "--cache-bytes"))
                    .trackingGranularity(intValue(flags, "tracking-bytes", "FARMEM_TRACKING_BYTES", "64"))
                    .prefetchDepth(intValue(flags, "prefetch-depth", "FARMEM_PREFETCH_DEPTH", "8"))
                    .registry(registry);
            SidecarOptions options = SidecarOptions.defaults()
                    .directory(Path.of(value(flags, "shm", "FARMEM_SHM_DIR", "/var/run/farmem/shm")))
                    .bindingPath(bindingPath)
                    .maxClients(intValue(flags, "max-clients", "FARMEM_MAX_CLIENTS", "16"))
                    .threadsPerClient(intValue(flags, "threads-per-client", "FARMEM_THREADS_PER_CLIENT", "64"))
                    .leaseTimeoutMillis(intValue(flags, "lease-timeout-ms", "FARMEM_LEASE_TIMEOUT_MS", "10000"))
                    .sidecarTimeoutMillis(intValue(flags, "sidecar-timeout-ms", "FARMEM_SIDECAR_TIMEOUT_MS", "5000"))
                    .engine(engine);
            String metrics = value(flags, "metrics-address", "FARMEM_METRICS_ADDRESS", "0.0.0.0:9091");
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

    private static Map<String, String> parse(String[] args) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                out.put("help", "");
                continue;
            }
            if (!a.startsWith("--")) throw new IllegalArgumentException("unexpected argument '" + a + "'");
            String name = a.substring(2);
            String v;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                v = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else {
                if (i + 1 >= args.length) throw new IllegalArgumentException("--" + name + " needs a value");
                v = args[++i];
            }
            if (!USAGE.contains("--" + name + " ")) throw new IllegalArgumentException("unknown option --" + name);
            out.put(name, v);
        }
        return out;
    }

    private static String value(Map<String, String> flags, String name, String env, String def) {
        String v = flags.get(name);
        if (v == null) v = System.getenv(env);
        return v == null ? def : v;
    }

    private static int intValue(Map<String, String> flags, String name, String env, String def) {
        String v = value(flags, name, env, def);
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " (" + env + ") must be a whole number, got '" + v + "'");
        }
    }
}
