package dev.farmem.operator.webhook;

import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar-injection webhook of the operator: its HTTPS server and its TLS, either managed
 * by the operator ({@code FARMEM_WEBHOOK_TLS=operator}: a self-signed CA in a Secret, the
 * caBundle patched, both renewed before expiry, checked every hour) or read from a mounted
 * directory ({@code FARMEM_WEBHOOK_TLS=files}: cert-manager or the chart writes tls.crt and
 * tls.key there; re-read when they change).
 */
public final class AdmissionWebhook implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(AdmissionWebhook.class);

    /** Everything the webhook needs to know, from the operator's environment. */
    public record Settings(int port, String tlsMode, Path certDir, String service, String secretName, String configuration,
                           Duration caLife, Duration certLife, Duration renewBefore, Duration checkEvery) {
        public static Settings fromEnv() {
            String service = env("FARMEM_WEBHOOK_SERVICE", "farmem-webhook");
            return new Settings(Integer.parseInt(env("FARMEM_WEBHOOK_PORT", "9443")), env("FARMEM_WEBHOOK_TLS", "operator"),
                    Path.of(env("FARMEM_WEBHOOK_CERT_DIR", "/etc/farmem/webhook-tls")), service,
                    env("FARMEM_WEBHOOK_SECRET", service + "-ca"), env("FARMEM_WEBHOOK_CONFIGURATION", service),
                    Duration.ofDays(3650), Duration.ofDays(90), Duration.ofDays(30), Duration.ofHours(1));
        }

        private static String env(String name, String def) {
            String v = System.getenv(name);
            return v == null || v.isBlank() ? def : v;
        }

        static boolean enabled() {
            return Boolean.parseBoolean(env("FARMEM_WEBHOOK_ENABLED", "false"));
        }
    }

    private final WebhookServer server;
    private final ScheduledExecutorService renewer;
    private final WebhookCertificates certificates;

    public AdmissionWebhook(KubernetesClient client, String namespace, Settings s) {
        AdmissionController controller = new AdmissionController(client, new SidecarInjection(SidecarInjection.Settings.fromEnv()));
        WebhookTls tls;
        if ("operator".equals(s.tlsMode())) {
            certificates = new WebhookCertificates(client, namespace, s.service(), s.secretName(), s.configuration(), s.caLife(), s.certLife(),
                    s.renewBefore());
            tls = certificates.ensure();
        } else if ("files".equals(s.tlsMode())) {
            certificates = null;
            tls = fromFiles(s.certDir());
        } else {
            throw new IllegalArgumentException("FARMEM_WEBHOOK_TLS is '" + s.tlsMode() + "': use operator (the operator keeps a self-signed CA) "
                    + "or files (certificates mounted at FARMEM_WEBHOOK_CERT_DIR, e.g. by cert-manager)");
        }
        String podIp = System.getenv("FARMEM_POD_IP"); // the pod's own address, as the metrics endpoint binds
        InetSocketAddress address = podIp == null || podIp.isBlank() ? new InetSocketAddress(s.port()) : new InetSocketAddress(podIp, s.port());
        server = new WebhookServer(address, tls, controller); // IllegalStateException naming the address when it cannot bind
        renewer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "farmem-webhook-tls");
            t.setDaemon(true);
            return t;
        });
        long every = s.checkEvery().toSeconds();
        WebhookTls[] served = {tls};
        renewer.scheduleWithFixedDelay(() -> {
            try {
                WebhookTls next = certificates != null ? certificates.ensure() : fromFiles(s.certDir());
                if (!next.cert().equals(served[0].cert())) {
                    server.tls(next);
                    served[0] = next;
                    LOG.info("webhook serves a new certificate, valid until {}", next.certNotAfter());
                }
            } catch (RuntimeException e) {
                LOG.warn("webhook certificate check failed, will retry: {}", e.toString());
            }
        }, every, every, TimeUnit.SECONDS);
        LOG.info("sidecar-injection webhook serves https://:{}{} (TLS: {})", server.port(), WebhookServer.PATH, s.tlsMode());
    }

    /** Starts the webhook when FARMEM_WEBHOOK_ENABLED is true; null otherwise. */
    public static AdmissionWebhook startIfEnabled(KubernetesClient client, String namespace) {
        return Settings.enabled() ? new AdmissionWebhook(client, namespace, Settings.fromEnv()) : null;
    }

    public int port() {
        return server.port();
    }

    private static WebhookTls fromFiles(Path dir) {
        try {
            String ca = Files.exists(dir.resolve("ca.crt")) ? Files.readString(dir.resolve("ca.crt")) : Files.readString(dir.resolve("tls.crt"));
            return new WebhookTls(ca, null, Files.readString(dir.resolve("tls.crt")), Files.readString(dir.resolve("tls.key")));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the webhook certificate from " + dir + " (tls.crt, tls.key): " + e.getMessage()
                    + "; mount the webhook's TLS Secret there or set FARMEM_WEBHOOK_TLS=operator", e);
        }
    }

    @Override
    public void close() {
        renewer.shutdownNow();
        server.close();
    }
}
