package dev.farmem.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** One slow client never keeps the liveness endpoint from answering. */
class HttpEndpointsTest {

    private static HttpResponse<String> get(HttpClient http, int port, String path) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).timeout(Duration.ofSeconds(1)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void healthzAnswersWithinASecondWhileAnotherConnectionHoldsAHalfSentRequestWhichIsThenClosed() throws Exception {
        Map<String, HttpEndpoints.Handler> routes = Map.of("/healthz", r -> HttpEndpoints.Response.text(200, "ok\n"));
        try (HttpEndpoints server = new HttpEndpoints("test-http", new InetSocketAddress("127.0.0.1", 0), null, routes, 0, Duration.ofSeconds(2));
             Socket slow = new Socket("127.0.0.1", server.port())) {
            // The JVM's first HTTP client starts its machinery, on a loaded machine slowly: not timed.
            HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/healthz"))
                    .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.discarding());
            OutputStream out = slow.getOutputStream();
            out.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ".getBytes(StandardCharsets.US_ASCII)); // the headers never end
            out.flush();

            HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(1)).build();
            for (int i = 0; i < 3; i++) {
                HttpResponse<String> r = get(http, server.port(), "/healthz"); // the request times out (fails the test) after 1 s
                assertThat(r.statusCode()).isEqualTo(200);
                assertThat(r.body()).isEqualTo("ok\n");
            }
            assertThat(get(http, server.port(), "/nothing").statusCode()).isEqualTo(404);

            // The half-sent request gets no answer; its connection is closed after the read timeout.
            slow.setSoTimeout(10_000);
            InputStream in = slow.getInputStream();
            assertThat(in.read()).as("closed without an answer").isEqualTo(-1);
        }
    }

}
