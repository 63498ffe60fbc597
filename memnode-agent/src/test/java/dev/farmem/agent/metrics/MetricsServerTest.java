package dev.farmem.agent.metrics;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** The agent's /healthz, /readyz and /metrics, and a slow client that must not silence them (a kubelet would restart the agent). */
class MetricsServerTest {

    private static HttpResponse<String> get(HttpClient http, MetricsServer server, String path) throws Exception {
        URI uri = URI.create("http://" + server.endpoint().host() + ":" + server.endpoint().port() + path);
        return http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(1)).build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void healthzReadyzAndMetricsAnswerWithinASecondWhileAnotherConnectionHoldsAHalfSentRequest() throws Exception {
        CollectorRegistry registry = new CollectorRegistry(true);
        Counter.build("farmem_agent_test_requests", "requests seen by the test").register(registry).inc(3);
        AtomicBoolean ready = new AtomicBoolean();
        try (MetricsServer server = MetricsServer.start(new InetSocketAddress("127.0.0.1", 0), registry, ready::get);
             Socket slow = new Socket(server.endpoint().host(), server.endpoint().port())) {
            // The JVM's first HTTP client starts its machinery, on a loaded machine slowly: not timed.
            HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://" + server.endpoint().host() + ":" + server.endpoint().port()
                    + "/healthz")).timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.discarding());
            OutputStream out = slow.getOutputStream();
            out.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII)); // the headers never end
            out.flush();

            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(1)).build();
            HttpResponse<String> health = get(http, server, "/healthz"); // times out (fails the test) after 1 s
            assertThat(health.statusCode()).isEqualTo(200);
            assertThat(health.body()).isEqualTo("ok\n");
            assertThat(health.headers().firstValue("Content-Type")).hasValue("text/plain; charset=utf-8");

            HttpResponse<String> notReady = get(http, server, "/readyz");
            assertThat(notReady.statusCode()).isEqualTo(503);
            assertThat(notReady.body()).isEqualTo("not ready\n");
            ready.set(true);
            HttpResponse<String> isReady = get(http, server, "/readyz");
            assertThat(isReady.statusCode()).isEqualTo(200);
            assertThat(isReady.body()).isEqualTo("ready\n");

            HttpResponse<String> metrics = get(http, server, "/metrics");
            assertThat(metrics.statusCode()).isEqualTo(200);
            assertThat(metrics.headers().firstValue("Content-Type")).hasValue("text/plain; version=0.0.4; charset=utf-8");
            assertThat(metrics.body()).contains("farmem_agent_test_requests_total 3.0");
        }
    }
}
