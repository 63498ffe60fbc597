package dev.farmem.agent.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.farmem.transport.Endpoint;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.HTTPServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.function.BooleanSupplier;

/** The agent's HTTP port: {@code /metrics} (Prometheus text), {@code /healthz} (alive), {@code /readyz} (serving). */
public final class MetricsServer implements AutoCloseable {

    private final HTTPServer prometheus;
    private final Endpoint endpoint;

    private MetricsServer(InetSocketAddress address, CollectorRegistry registry, BooleanSupplier ready) throws IOException {
        HttpServer http = HttpServer.create(address, 16);
        http.createContext("/healthz", exchange -> respond(exchange, 200, "ok\n"));
        http.createContext("/readyz", exchange -> {
            boolean r = ready.getAsBoolean();
            respond(exchange, r ? 200 : 503, r ? "ready\n" : "not ready\n");
        });
        // The Prometheus server adds /metrics to this HttpServer and starts it.
        prometheus = new HTTPServer.Builder().withHttpServer(http).withRegistry(registry).withDaemonThreads(true).build();
        InetSocketAddress bound = http.getAddress();
        endpoint = new Endpoint(bound.getAddress().getHostAddress(), bound.getPort());
    }

    /** Starts serving on {@code address} (port 0: any free port). */
    public static MetricsServer start(InetSocketAddress address, CollectorRegistry registry, BooleanSupplier ready) {
        try {
            return new MetricsServer(address, registry, ready);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serve metrics on " + address + ": " + e.getMessage(), e);
        }
    }

    public Endpoint endpoint() {
        return endpoint;
    }

    @Override
    public void close() {
        prometheus.close();
    }

    private static void respond(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }
}
