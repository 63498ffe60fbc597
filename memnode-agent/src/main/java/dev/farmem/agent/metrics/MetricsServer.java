package dev.farmem.agent.metrics;

import dev.farmem.common.Endpoint;
import dev.farmem.http.HttpEndpoints;
import dev.farmem.http.PrometheusHandler;
import io.prometheus.client.CollectorRegistry;
import java.net.InetSocketAddress;
import java.util.Map;
import java.util.function.BooleanSupplier;

/**
 * The agent's HTTP port: {@code /metrics} (Prometheus text), {@code /healthz} (alive), {@code /readyz} (serving).
 * Served by {@link HttpEndpoints}, as the operator's are: a slow or stuck client holds no thread,
 * so {@code /healthz} keeps answering the kubelet's liveness probe.
 */
public final class MetricsServer implements AutoCloseable {

    private final HttpEndpoints server;
    private final Endpoint endpoint;

    private MetricsServer(HttpEndpoints server) {
        this.server = server;
        InetSocketAddress bound = server.address();
        this.endpoint = new Endpoint(bound.getAddress().getHostAddress(), bound.getPort());
    }

    /** Starts serving on {@code address} (port 0: any free port). */
    public static MetricsServer start(InetSocketAddress address, CollectorRegistry registry, BooleanSupplier ready) {
        return new MetricsServer(new HttpEndpoints("farmem-agent-metrics", address, null, Map.of(
                "/healthz", request -> HttpEndpoints.Response.text(200, "ok\n"),
                "/readyz", request -> {
                    boolean r = ready.getAsBoolean();
                    return HttpEndpoints.Response.text(r ? 200 : 503, r ? "ready\n" : "not ready\n");
                },
                "/metrics", new PrometheusHandler(registry)), 0));
    }

    public Endpoint endpoint() {
        return endpoint;
    }

    @Override
    public void close() {
        server.close();
    }
}
