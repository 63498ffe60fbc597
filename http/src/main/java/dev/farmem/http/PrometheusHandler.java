package dev.farmem.http;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.common.TextFormat;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;

/** {@code /metrics}: every metric of a registry in the Prometheus text format 0.0.4. */
public final class PrometheusHandler implements HttpEndpoints.Handler {
    private final CollectorRegistry registry;

    public PrometheusHandler(CollectorRegistry registry) {
        this.registry = registry;
    }

    @Override
    public HttpEndpoints.Response handle(HttpEndpoints.Request request) throws Exception {
        StringWriter text = new StringWriter();
        TextFormat.write004(text, registry.metricFamilySamples());
        return new HttpEndpoints.Response(200, TextFormat.CONTENT_TYPE_004, text.toString().getBytes(StandardCharsets.UTF_8));
    }
}
