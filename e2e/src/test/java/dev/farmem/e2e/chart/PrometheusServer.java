package dev.farmem.e2e.chart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.farmem.e2e.harness.LocalProcess;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * A real Prometheus server (Debian's prometheus package, installed by helm/setup) on 127.0.0.1,
 * scraping static targets every second and evaluating a rule file every second; it owns {@code dir}.
 */
final class PrometheusServer implements AutoCloseable {

    /** A scrape job: its targets (host:port on 127.0.0.1) and the labels a PodMonitor would have added. */
    record Job(String name, List<Target> targets) {}

    record Target(String address, Map<String, String> labels) {}

    private static final ObjectMapper JSON = new ObjectMapper();
    private final LocalProcess process;
    private final Path dir;
    private final URI base;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private PrometheusServer(LocalProcess process, Path dir, URI base) {
        this.process = process;
        this.dir = dir;
        this.base = base;
    }

    static PrometheusServer start(Path dir, Path ruleFile, List<Job> jobs) throws IOException {
        Path binary = Path.of("/usr/bin/prometheus");
        if (!Files.isExecutable(binary)) {
            throw new IllegalStateException("the Prometheus server is not installed: run helm/setup (as root) or apt-get install prometheus");
        }
        StringBuilder config = new StringBuilder("global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n")
                .append("rule_files:\n  - '").append(ruleFile.toAbsolutePath()).append("'\nscrape_configs:\n");
        for (Job job : jobs) {
            config.append("  - job_name: '").append(job.name()).append("'\n    static_configs:\n");
            for (Target t : job.targets()) {
                if (!t.address().startsWith("127.") && !t.address().startsWith("10.")) {
                    throw new IllegalArgumentException("scrape targets are on loopback or a local cluster's own pods, got " + t.address());
                }
                config.append("      - targets: ['").append(t.address()).append("']\n        labels: {");
                config.append(String.join(", ", t.labels().entrySet().stream().map(e -> e.getKey() + ": '" + e.getValue() + "'").toList()));
                config.append("}\n");
            }
        }
        Files.createDirectories(dir);
        Path configFile = Files.writeString(dir.resolve("prometheus.yml"), config);
        int port = freePort();
        LocalProcess p = LocalProcess.start("prometheus", List.of(binary.toString(),
                "--config.file=" + configFile, "--storage.tsdb.path=" + dir.resolve("data"),
                "--web.listen-address=127.0.0.1:" + port, "--storage.tsdb.retention.time=1h",
                "--web.console.templates=" + dir, "--web.console.libraries=" + dir, "--log.level=warn"),
                dir, null, dir.resolve("prometheus.log"));
        PrometheusServer server = new PrometheusServer(p, dir, URI.create("http://127.0.0.1:" + port));
        try {
            server.awaitReady(Duration.ofSeconds(30));
        } catch (RuntimeException | Error e) {
            server.close();
            throw e;
        }
        return server;
    }

    private void awaitReady(Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        while (Instant.now().isBefore(deadline)) {
            if (!process.isAlive()) {
                throw new IllegalStateException("prometheus exited with " + process.exitCode() + ":\n" + process.tail(20));
            }
            try {
                HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve("/-/ready")).timeout(Duration.ofSeconds(2)).build(),
                        HttpResponse.BodyHandlers.ofString());
                if (r.statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
            sleep(200);
        }
        throw new IllegalStateException("prometheus not ready in " + timeout + ":\n" + process.tail(20));
    }

    /** The result vector of an instant query; an error of the query (bad PromQL) is an exception. */
    JsonNode query(String promql) {
        URI uri = base.resolve("/api/v1/query?query=" + URLEncoder.encode(promql, StandardCharsets.UTF_8));
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri).timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            JsonNode body = JSON.readTree(r.body());
            if (!"success".equals(body.path("status").asText())) {
                throw new IllegalArgumentException("query " + promql + " failed: " + body.path("error").asText(r.body()));
            }
            return body.at("/data/result");
        } catch (IOException e) {
            throw new UncheckedIOException("query " + promql, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** Polls {@code promql} until it returns at least one sample or {@code timeout} passes; the last result. */
    JsonNode awaitData(String promql, Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        JsonNode result = query(promql);
        while (result.isEmpty() && Instant.now().isBefore(deadline)) {
            sleep(500);
            result = query(promql);
        }
        return result;
    }

    String log() {
        return process.tail(30);
    }

    /** Stops the server and deletes its directory (configuration, TSDB, log). */
    @Override
    public void close() {
        process.stop(Duration.ofSeconds(5));
        try (var files = Files.walk(dir)) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete the Prometheus directory " + dir, e);
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}
