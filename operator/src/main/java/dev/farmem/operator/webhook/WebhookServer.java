package dev.farmem.operator.webhook;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import javax.net.ssl.SSLContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTPS endpoint the API server calls: {@value #PATH} takes an AdmissionReview and answers
 * one; {@code /healthz} says it serves. The TLS context can be swapped while it runs (new
 * connections use the new certificate).
 */
public final class WebhookServer implements AutoCloseable {

    public static final String PATH = "/mutate-pods";
    private static final Logger LOG = LoggerFactory.getLogger(WebhookServer.class);
    private static final int MAX_BODY = 4 << 20; // a pod object is far below this; more is refused

    private final HttpsServer server;
    private final ExecutorService executor;

    public WebhookServer(InetSocketAddress address, SSLContext tls, AdmissionController controller) throws IOException {
        server = HttpsServer.create(address, 64);
        server.setHttpsConfigurator(new HttpsConfigurator(tls));
        server.createContext(PATH, exchange -> handle(exchange, controller));
        server.createContext("/healthz", exchange -> send(exchange, 200, "text/plain", "ok\n"));
        executor = Executors.newFixedThreadPool(2, r -> {
            Thread t = new Thread(r, "farmem-webhook");
            t.setDaemon(true);
            return t;
        });
        server.setExecutor(executor);
        server.start();
    }

    public int port() {
        return server.getAddress().getPort();
    }

    /** Serves a renewed certificate to new connections. */
    public void tls(SSLContext tls) {
        server.setHttpsConfigurator(new HttpsConfigurator(tls));
    }

    private static void handle(HttpExchange exchange, AdmissionController controller) throws IOException {
        try {
            if (!"POST".equals(exchange.getRequestMethod())) {
                send(exchange, 405, "text/plain", "POST an admission.k8s.io/v1 AdmissionReview to " + PATH + "\n");
                return;
            }
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readNBytes(MAX_BODY + 1);
            }
            if (body.length > MAX_BODY) {
                send(exchange, 413, "text/plain", "an AdmissionReview of more than " + MAX_BODY + " bytes is refused\n");
                return;
            }
            AdmissionReview review;
            try {
                review = Serialization.unmarshal(new String(body, StandardCharsets.UTF_8), AdmissionReview.class);
            } catch (RuntimeException e) {
                send(exchange, 400, "text/plain", "the body is not an AdmissionReview: " + e.getMessage() + "\n");
                return;
            }
            AdmissionReview answer;
            try {
                answer = controller.review(review);
            } catch (IllegalArgumentException e) {
                send(exchange, 400, "text/plain", e.getMessage() + "\n");
                return;
            }
            send(exchange, 200, "application/json", Serialization.asJson(answer));
        } catch (RuntimeException e) {
            LOG.warn("admission review failed: {}", e.toString());
            send(exchange, 500, "text/plain", "the farmem webhook failed: " + e.getMessage() + "\n");
        }
    }

    private static void send(HttpExchange exchange, int code, String type, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", type);
        exchange.sendResponseHeaders(code, b.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(b);
        }
    }

    @Override
    public void close() {
        server.stop(1);
        executor.shutdownNow();
    }
}
