package dev.farmem.e2e.chart;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import dev.farmem.client.FarLongArray;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.e2e.harness.LocalCluster;
import dev.farmem.common.binding.Binding;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.exporter.HTTPServer;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A real Prometheus scraping what the chart's PodMonitors would select (the operator pod, the agent
 * pods, a client of a bound claim) with the chart's rule file, and every recording rule and every
 * dashboard query of the chart run against it. Static targets on the pods' loopback addresses stand
 * in for the PodMonitors, with the labels their relabelling adds (pool, node, pod).
 */
final class MonitoringQueries {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LABEL_VALUES = Pattern.compile("^label_values\\((.*),\\s*([a-zA-Z_]+)\\)$");
    private static final Duration DATA_WAIT = Duration.ofSeconds(90);

    private MonitoringQueries() {}

    /** Starts the client workload and Prometheus, and waits until every query has data or {@link #DATA_WAIT} passed. */
    static Run scrape(LocalCluster cluster, String namespace, String claimNamespace, String claim, Path repo) throws IOException {
        KubernetesClient admin = cluster.client();
        Secret secret = admin.secrets().inNamespace(claimNamespace).withName(claim + "-binding").get();
        Binding binding = Binding.fromJson(new String(Base64.getDecoder().decode(secret.getData().get(Binding.SECRET_KEY)), StandardCharsets.UTF_8));
        Run run = new Run(binding);
        try {
            List<PrometheusServer.Target> operator = new ArrayList<>();
            for (Pod p : pods(admin, namespace, "farmem-operator")) {
                operator.add(target(p, Map.of("pod", p.getMetadata().getName(), "namespace", namespace)));
            }
            List<PrometheusServer.Target> agents = new ArrayList<>();
            for (Pod p : pods(admin, namespace, "farmem-agent")) {
                agents.add(target(p, Map.of("pool", p.getMetadata().getLabels().get("farmem.io/pool"), "node", p.getSpec().getNodeName(),
                        "pod", p.getMetadata().getName(), "namespace", namespace)));
            }
            List<PrometheusServer.Target> client = List.of(new PrometheusServer.Target("127.0.0.1:" + run.http.getPort(),
                    Map.of("pool", binding.pool(), "pod", "chart-it-client", "namespace", claimNamespace)));
            Path ruleFile = repo.resolve("helm/farmem/files/prometheus-rules.yaml");
            run.prometheus = PrometheusServer.start(Files.createTempDirectory("farmem-prometheus-"), ruleFile, List.of(
                    new PrometheusServer.Job("farmem-operator", operator),
                    new PrometheusServer.Job("farmem-agents", agents),
                    new PrometheusServer.Job("farmem-sidecars", client)));
            run.expectedTargets = operator.size() + agents.size() + client.size();
            run.recordingRules = recordingRules(ruleFile);
            run.dashboardQueries = dashboardQueries(repo.resolve("helm/farmem/dashboards"));
            run.collect();
            return run;
        } catch (IOException | RuntimeException | Error e) {
            run.close();
            throw e;
        }
    }

    /** One scrape session: the client, its workload, Prometheus, and what the queries returned. */
    static final class Run implements AutoCloseable {
        private final FarMemory memory;
        private final HTTPServer http;
        private final Thread workload;
        private final AtomicBoolean stop = new AtomicBoolean();
        private PrometheusServer prometheus;
        private int expectedTargets;
        private List<String> recordingRules = List.of();
        private List<String> dashboardQueries = List.of();
        private final List<String> targetsDown = new ArrayList<>();
        private final List<String> rulesWithoutData = new ArrayList<>();
        private final List<String> queriesWithoutData = new ArrayList<>();

        Run(Binding binding) throws IOException {
            CollectorRegistry registry = new CollectorRegistry();
            // A cache of a quarter of the claim: misses, evictions and write-backs happen, not only hits.
            memory = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(binding.sizeBytes() / 4).registry(registry));
            http = new HTTPServer(new InetSocketAddress("127.0.0.1", 0), registry, true);
            workload = new Thread(this::work, "chart-it-workload");
            workload.setDaemon(true);
            workload.start();
        }

        /** Sparse random updates and reads with periodic flushes, until stopped or 3 minutes or 50 M operations. */
        private void work() {
            FarLongArray longs = memory.longArray(0, memory.size() / Long.BYTES);
            SplittableRandom random = new SplittableRandom(42);
            Instant end = Instant.now().plus(Duration.ofMinutes(3));
            for (long op = 0; op < 50_000_000L && !stop.get(); op++) {
                long i = random.nextLong(longs.length());
                if (random.nextInt(4) == 0) {
                    longs.set(i, op);
                } else {
                    longs.get(i);
                }
                if (op % 4096 == 0) {
                    memory.flush();
                    if (Instant.now().isAfter(end)) {
                        return;
                    }
                    PrometheusServer.sleep(1); // leave the 2 shared cores to the pods being scraped
                }
            }
        }

        private void collect() {
            Instant deadline = Instant.now().plus(DATA_WAIT);
            while (prometheus.query("up == 1").size() < expectedTargets && Instant.now().isBefore(deadline)) {
                PrometheusServer.sleep(500);
            }
            for (JsonNode t : prometheus.query("up")) {
                if (t.at("/value/1").asDouble() != 1.0) {
                    targetsDown.add(t.path("metric").toString());
                }
            }
            if (prometheus.query("up").size() != expectedTargets) {
                targetsDown.add("expected " + expectedTargets + " targets, Prometheus has " + prometheus.query("up").size());
            }
            for (String rule : recordingRules) {
                if (awaitData(rule, deadline).isEmpty()) {
                    rulesWithoutData.add(rule);
                }
            }
            for (String q : dashboardQueries) {
                if (awaitData(q, deadline).isEmpty()) {
                    queriesWithoutData.add(q);
                }
            }
        }

        private JsonNode awaitData(String promql, Instant deadline) {
            return prometheus.awaitData(promql, Duration.between(Instant.now(), deadline).isNegative()
                    ? Duration.ZERO : Duration.between(Instant.now(), deadline));
        }

        int targets() { return expectedTargets; }
        List<String> targetsDown() { return targetsDown; }
        List<String> recordingRules() { return recordingRules; }
        List<String> recordingRulesWithoutData() { return rulesWithoutData; }
        List<String> dashboardQueries() { return dashboardQueries; }
        List<String> dashboardQueriesWithoutData() { return queriesWithoutData; }

        @Override
        public void close() {
            stop.set(true);
            try {
                workload.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (prometheus != null) {
                prometheus.close();
            }
            http.close();
            memory.close();
        }
    }

    private static List<Pod> pods(KubernetesClient admin, String namespace, String name) {
        return admin.pods().inNamespace(namespace).withLabel("app.kubernetes.io/name", name).list().getItems().stream()
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null && p.getStatus().getPodIP() != null).toList();
    }

    /** The pod's port named "metrics", as the PodMonitors select it. */
    private static PrometheusServer.Target target(Pod pod, Map<String, String> labels) {
        int port = pod.getSpec().getContainers().stream().flatMap(c -> c.getPorts().stream())
                .filter(p -> "metrics".equals(p.getName())).map(ContainerPort::getContainerPort).findFirst()
                .orElseThrow(() -> new AssertionError("pod " + pod.getMetadata().getName() + " has no port named metrics for its PodMonitor"));
        return new PrometheusServer.Target(pod.getStatus().getPodIP() + ":" + port, labels);
    }

    static List<String> recordingRules(Path ruleFile) throws IOException {
        List<String> out = new ArrayList<>();
        new YAMLMapper().readTree(ruleFile.toFile()).path("groups")
                .forEach(g -> g.path("rules").forEach(r -> {
                    if (r.has("record")) {
                        out.add(r.path("record").asText());
                    }
                }));
        return out;
    }

    /** Every panel query and query variable of the dashboards, with Grafana's variables set to "all" and label_values as PromQL. */
    static List<String> dashboardQueries(Path dir) throws IOException {
        Map<String, Boolean> out = new LinkedHashMap<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.sorted().toList()) {
                JsonNode d = JSON.readTree(f.toFile());
                d.path("panels").forEach(p -> p.path("targets").forEach(t -> out.put(grafanaToPromql(t.path("expr").asText()), true)));
                d.at("/templating/list").forEach(v -> {
                    if ("query".equals(v.path("type").asText())) {
                        out.put(grafanaToPromql(v.path("definition").asText()), true);
                    }
                });
            }
        }
        return List.copyOf(out.keySet());
    }

    static String grafanaToPromql(String query) {
        String q = query.replace("$__rate_interval", "1m").replaceAll("\\$[a-z_]+", ".*");
        Matcher m = LABEL_VALUES.matcher(q);
        return m.matches() ? "count by (" + m.group(2) + ") (" + m.group(1) + ")" : q;
    }
}
