package dev.farmem.operator.webhook;

import dev.farmem.http.HttpEndpoints;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Map;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTPS endpoint the API server calls: {@value #PATH} takes an AdmissionReview and answers
 * one; {@code /healthz} says it serves. Served by {@link HttpEndpoints} (Netty, TLS by its
 * SslHandler, a read timeout per connection). The certificate can be swapped while it runs (new
 * connections use the new one).
 */
public final class WebhookServer implements AutoCloseable {

    public static final String PATH = "/mutate-pods";
    private static final Logger LOG = LoggerFactory.getLogger(WebhookServer.class);
    private static final int MAX_BODY = 4 << 20; // a pod object is far below this; more is refused

    private final HttpEndpoints server;
    private final SwappableKeyManager keys;

    public WebhookServer(InetSocketAddress address, WebhookTls tls, AdmissionController controller) {
        keys = new SwappableKeyManager(tls.keyManager());
        SSLContext context;
        try {
            context = SSLContext.getInstance("TLS");
            context.init(new KeyManager[] {keys}, null, null);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot set up TLS for the webhook: " + e.getMessage(), e);
        }
        server = new HttpEndpoints("farmem-webhook", address, () -> {
            SSLEngine engine = context.createSSLEngine();
            engine.setUseClientMode(false);
            return engine;
        }, Map.of(PATH, request -> handle(request, controller),
                "/healthz", request -> HttpEndpoints.Response.text(200, "ok\n")), MAX_BODY);
    }

    public int port() {
        return server.port();
    }

    /** Serves a renewed certificate to new handshakes. */
    public void tls(WebhookTls tls) {
        keys.delegate = tls.keyManager();
    }

    /** The server's key manager, whose certificate can change while it serves. */
    private static final class SwappableKeyManager extends X509ExtendedKeyManager {
        volatile X509ExtendedKeyManager delegate;

        SwappableKeyManager(X509ExtendedKeyManager delegate) {
            this.delegate = delegate;
        }

        @Override public String[] getClientAliases(String t, Principal[] i) { return delegate.getClientAliases(t, i); }
        @Override public String chooseClientAlias(String[] t, Principal[] i, Socket s) { return delegate.chooseClientAlias(t, i, s); }
        @Override public String[] getServerAliases(String t, Principal[] i) { return delegate.getServerAliases(t, i); }
        @Override public String chooseServerAlias(String t, Principal[] i, Socket s) { return delegate.chooseServerAlias(t, i, s); }
        @Override public String chooseEngineServerAlias(String t, Principal[] i, SSLEngine e) {
            return delegate.chooseEngineServerAlias(t, i, e);
        }
        @Override public X509Certificate[] getCertificateChain(String alias) { return delegate.getCertificateChain(alias); }
        @Override public PrivateKey getPrivateKey(String alias) { return delegate.getPrivateKey(alias); }
    }

    private static HttpEndpoints.Response handle(HttpEndpoints.Request request, AdmissionController controller) {
        if (!"POST".equals(request.method())) {
            return HttpEndpoints.Response.text(405, "POST an admission.k8s.io/v1 AdmissionReview to " + PATH + "\n");
        }
        try {
            AdmissionReview review;
            try {
                review = Serialization.unmarshal(new String(request.body(), StandardCharsets.UTF_8), AdmissionReview.class);
            } catch (RuntimeException e) {
                return HttpEndpoints.Response.text(400, "the body is not an AdmissionReview: " + e.getMessage() + "\n");
            }
            AdmissionReview answer;
            try {
                answer = controller.review(review);
            } catch (IllegalArgumentException e) {
                return HttpEndpoints.Response.text(400, e.getMessage() + "\n");
            }
            return new HttpEndpoints.Response(200, "application/json", Serialization.asJson(answer).getBytes(StandardCharsets.UTF_8));
        } catch (RuntimeException e) {
            LOG.warn("admission review failed: {}", e.toString());
            return HttpEndpoints.Response.text(500, "the farmem webhook failed: " + e.getMessage() + "\n");
        }
    }

    @Override
    public void close() {
        server.close();
    }
}
