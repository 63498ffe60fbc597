package dev.farmem.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.http.HttpEndpoints;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import javax.net.ssl.SSLHandshakeException;
import org.junit.jupiter.api.Test;

/** The HTTPS endpoint on loopback with a CA and certificate the operator issued itself. */
class WebhookServerTest {

    private static final List<String> NAMES = List.of("localhost", "farmem-webhook.farmem-system.svc");

    private static final String REVIEW = """
            {"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1",
             "kind":{"group":"","version":"v1","kind":"Pod"},"namespace":"team","operation":"CREATE",
             "object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"plain"},"spec":{"containers":[{"name":"a","image":"x"}]}}}}
            """;

    private static HttpResponse<String> post(HttpClient http, int port, String body) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("https://localhost:" + port + WebhookServer.PATH)).timeout(Duration.ofSeconds(10))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void answersAReviewOverTlsTrustedByItsCaAndSwapsToARenewedCertificate() throws Exception {
        WebhookTls tls = WebhookTls.issue(NAMES, Duration.ofDays(365), Duration.ofDays(90));
        assertThat(tls.covers(NAMES)).isTrue();
        assertThat(tls.certNotAfter()).isBetween(Instant.now().plus(Duration.ofDays(89)), Instant.now().plus(Duration.ofDays(91)));
        AdmissionController controller = new AdmissionController(null, new SidecarInjection(
                new SidecarInjection.Settings("img", "IfNotPresent", 9091, "100m", 64L << 20))); // a pod naming no claim needs no API call
        try (WebhookServer server = new WebhookServer(new InetSocketAddress("127.0.0.1", 0), tls, controller)) {
            HttpClient trusting = HttpClient.newBuilder().sslContext(tls.clientContext()).build();
            HttpResponse<String> r = post(trusting, server.port(), REVIEW);
            assertThat(r.statusCode()).isEqualTo(200);
            AdmissionReview answer = Serialization.unmarshal(r.body(), AdmissionReview.class);
            assertThat(answer.getResponse().getUid()).isEqualTo("u-1");
            assertThat(answer.getResponse().getAllowed()).isTrue();
            assertThat(answer.getResponse().getPatch()).isNull();

            assertThat(post(trusting, server.port(), "{not json").statusCode()).isEqualTo(400);
            assertThat(post(trusting, server.port(), "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}").body())
                    .contains("has no request");

            WebhookTls otherCa = WebhookTls.issue(NAMES, Duration.ofDays(365), Duration.ofDays(90));
            HttpClient strangers = HttpClient.newBuilder().sslContext(otherCa.clientContext()).build();
            assertThatThrownBy(() -> post(strangers, server.port(), REVIEW)).isInstanceOf(SSLHandshakeException.class);

            WebhookTls renewed = WebhookTls.withServingCert(tls.caCert(), tls.caKey(), NAMES, Duration.ofDays(90));
            assertThat(renewed.cert()).isNotEqualTo(tls.cert());
            server.tls(renewed);
            HttpClient fresh = HttpClient.newBuilder().sslContext(tls.clientContext()).build(); // same CA: the caBundle need not change
            assertThat(post(fresh, server.port(), REVIEW).statusCode()).isEqualTo(200);
        }
    }

    @Test
    void healthzAnswersOverTlsWhileAnotherConnectionHoldsAHalfSentRequest() throws Exception {
        WebhookTls tls = WebhookTls.issue(NAMES, Duration.ofDays(365), Duration.ofDays(90));
        AdmissionController controller = new AdmissionController(null, new SidecarInjection(
                new SidecarInjection.Settings("img", "IfNotPresent", 9091, "100m", 64L << 20)));
        try (WebhookServer server = new WebhookServer(new InetSocketAddress("127.0.0.1", 0), tls, controller);
             java.net.Socket slow = new java.net.Socket("127.0.0.1", server.port())) {
            // The JVM's first TLS handshake loads and initialises JSSE, which on a loaded machine alone can take a second: not timed.
            HttpClient.newBuilder().sslContext(tls.clientContext()).build().send(HttpRequest.newBuilder(
                    URI.create("https://localhost:" + server.port() + "/healthz")).timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.discarding());
            slow.getOutputStream().write(new byte[] {0x16, 0x03, 0x01}); // the start of a TLS record, never finished
            slow.getOutputStream().flush();
            // A server that served one connection at a time would answer only after the slow one's read timeout
            // (HttpEndpoints.READ_TIMEOUT, 10 s): half of it is the bound, which a loaded machine does not reach.
            Duration bound = HttpEndpoints.READ_TIMEOUT.dividedBy(2);
            HttpClient trusting = HttpClient.newBuilder().sslContext(tls.clientContext()).connectTimeout(bound).build();
            HttpResponse<String> r = trusting.send(HttpRequest.newBuilder(URI.create("https://localhost:" + server.port() + "/healthz"))
                    .timeout(bound).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).isEqualTo("ok\n");
        }
    }
}
