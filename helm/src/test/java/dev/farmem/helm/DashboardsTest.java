package dev.farmem.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The Grafana dashboards: well formed, and querying only what docs/metrics.md and the recording rules define. */
class DashboardsTest {

    static final Path DIR = FarmemChart.DIR.resolve("dashboards");

    /** file name -> dashboard JSON. */
    static Map<String, JsonNode> dashboards() throws IOException {
        Map<String, JsonNode> out = new TreeMap<>();
        try (Stream<Path> files = Files.list(DIR)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                out.put(f.getFileName().toString(), FarmemChart.JSON.readTree(f.toFile()));
            }
        }
        return out;
    }

    /** Every PromQL query of a dashboard: each panel target and each query variable. */
    static List<String> queries(JsonNode dashboard) {
        List<String> out = new ArrayList<>();
        dashboard.path("panels").forEach(p -> p.path("targets").forEach(t -> out.add(t.path("expr").asText())));
        dashboard.at("/templating/list").forEach(v -> {
            if (v.path("type").asText().equals("query")) {
                out.add(v.path("definition").asText());
            }
        });
        return out;
    }

    @Test
    void theThreeDashboardsOfTheIssueShipWithUniqueUids() throws IOException {
        Map<String, JsonNode> all = dashboards();
        assertThat(all).containsOnlyKeys("pool-overview.json", "memory-nodes.json", "client-cache.json");
        assertThat(all.values()).extracting(d -> d.path("uid").asText()).doesNotHaveDuplicates().allMatch(uid -> uid.length() <= 40);
        for (JsonNode d : all.values()) {
            assertThat(d.path("title").asText()).startsWith("farmem / ");
            assertThat(d.at("/templating/list/0/type").asText()).as("a data source variable comes first").isEqualTo("datasource");
        }
    }

    @Test
    void everyPanelHasAQueryOnItsDataSourceVariableAndAUniqueIdAndPlace() throws IOException {
        for (var e : dashboards().entrySet()) {
            Set<Integer> ids = new HashSet<>();
            for (JsonNode panel : e.getValue().path("panels")) {
                String where = e.getKey() + " / " + panel.path("title").asText();
                assertThat(ids.add(panel.path("id").asInt())).as(where + " id").isTrue();
                assertThat(panel.path("targets")).as(where).isNotEmpty();
                assertThat(panel.at("/datasource/uid").asText()).as(where).isEqualTo("${datasource}");
                panel.path("targets").forEach(t -> assertThat(t.path("expr").asText()).as(where).isNotBlank());
                assertThat(panel.at("/gridPos/w").asInt()).as(where).isBetween(1, 24);
            }
        }
    }

    @Test
    void panelsCoverWhatTheIssueAsksFor() throws IOException {
        Map<String, JsonNode> all = dashboards();
        assertThat(names(all.get("pool-overview.json"))).contains("farmem_operator_pool_capacity_bytes",
                "farmem_operator_pool_allocated_bytes", "farmem_operator_pool_nodes_ready", "farmem_operator_claims");
        assertThat(names(all.get("memory-nodes.json"))).contains("farmem_agent_requests_total", "farmem_agent_read_bytes_total",
                "farmem_agent_request_duration_seconds_bucket", "farmem_agent_slabs", "pool_node:farmem_agent_request_errors:rate5m");
        assertThat(names(all.get("client-cache.json"))).contains("claim:farmem_client_cache_hit:ratio_rate5m",
                "farmem_client_fetch_duration_seconds_bucket", "farmem_client_fetched_bytes_total", "farmem_client_written_back_bytes_total",
                "claim:farmem_client_writeback_line_ideal:ratio_rate5m", "claim:farmem_client_writeback_page_savings:ratio_rate5m");
    }

    @Test
    void everyQueryUsesOnlyContractMetricsOrRecordingRules() throws IOException {
        Set<String> allowed = new HashSet<>(MetricContract.seriesNames());
        PrometheusRulesTest.rules().stream().filter(r -> r.has("record")).forEach(r -> allowed.add(r.path("record").asText()));
        for (var e : dashboards().entrySet()) {
            for (String q : queries(e.getValue())) {
                Set<String> names = MetricContract.namesIn(q);
                assertThat(names).as(e.getKey() + ": " + q).isNotEmpty();
                assertThat(allowed).as(e.getKey() + ": " + q).containsAll(names);
            }
        }
    }

    private static Set<String> names(JsonNode dashboard) {
        Set<String> out = new HashSet<>();
        queries(dashboard).forEach(q -> out.addAll(MetricContract.namesIn(q)));
        return out;
    }
}
