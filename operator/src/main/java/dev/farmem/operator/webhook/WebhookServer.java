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
    private final SwappableKeyManager keys;

    public WebhookServer(InetSocketAddress address, WebhookTls tls, AdmissionController controller) throws IOException {
        keys = new SwappableKeyManager(tls.keyManager());
        SSLContext context;
        try {
            context = SSLContext.getInstance("TLS");
            context.init(new javax.net.ssl.KeyManager[] {keys}, null, null);
        } catch (java.security.GeneralSecurityException e) {
            throw new IllegalStateException("cannot set up TLS for the webhook: " + e.getMessage(), e);
        }
        server = HttpsServer.create(address, 64);
        server.setHttpsConfigurator(new HttpsConfigurator(context));
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

    /** Serves a renewed certificate to new handshakes. */
    public void tls(WebhookTls tls) {
        keys.delegate = tls.keyManager();
    }

    /** The server's key manager, whose certificate can change while it serves. */
    private static final class SwappableKeyManager extends javax.net.ssl.X509ExtendedKeyManager {
        volatile javax.net.ssl.X509ExtendedKeyManager delegate;

        SwappableKeyManager(javax.net.ssl.X509ExtendedKeyManager delegate) {
            this.delegate = delegate;
        }

        @Override public String[] getClientAliases(String t, java.security.Principal[] i) { return delegate.getClientAliases(t, i); }
        @Override public String chooseClientAlias(String[] t, java.security.Principal[] i, java.net.Socket s) { return delegate.chooseClientAlias(t, i, s); }
        @Override public String[] getServerAliases(String t, java.security.Principal[] i) { return delegate.getServerAliases(t, i); }
        @Override public String chooseServerAlias(String t, java.security.Principal[] i, java.net.Socket s) { return delegate.chooseServerAlias(t, i, s); }
        @Override public String chooseEngineServerAlias(String t, java.security.Principal[] i, javax.net.ssl.SSLEngine e) {
            return delegate.chooseEngineServerAlias(t, i, e);
        }
        @Override public java.security.cert.X509Certificate[] getCertificateChain(String alias) { return delegate.getCertificateChain(alias); }
        @Override public java.security.PrivateKey getPrivateKey(String alias) { return delegate.getPrivateKey(alias); }
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
