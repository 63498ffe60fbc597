package dev.farmem.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The rule file the PrometheusRule ships, checked and unit-tested by Debian's promtool (installed by helm/setup). */
class PrometheusRulesTest {

    static final Path RULES = FarmemChart.DIR.resolve("files/prometheus-rules.yaml");
    static final Path RULE_TESTS = FarmemChart.MODULE.resolve("src/test/promtool/rules-test.yaml");
    static final List<String> REQUIRED_ALERTS = List.of("FarmemPoolDegraded", "FarmemMemoryNodeLost", "FarmemPoolCapacityHigh",
            "FarmemClaimPendingTooLong", "FarmemReconcileErrors", "FarmemWriteBackErrors", "FarmemFetchLatencyHigh");

    @Test
    void promtoolCheckRulesAcceptsTheRuleFile() throws Exception {
        String out = promtool("check", "rules", RULES.toString());
        assertThat(out).contains("SUCCESS");
    }

    @Test
    void promtoolUnitTestsOfEveryAlertAndRecordingRulePass() throws Exception {
        String out = promtool("test", "rules", RULE_TESTS.toString());
        assertThat(out).contains("SUCCESS");
    }

    @Test
    void theIssueAlertsExistEachWithSummaryDescriptionRunbookAndSeverity() throws IOException {
        List<JsonNode> alerts = rules().stream().filter(r -> r.has("alert")).toList();
        assertThat(alerts).extracting(a -> a.path("alert").asText()).containsExactlyInAnyOrderElementsOf(REQUIRED_ALERTS);
        for (JsonNode alert : alerts) {
            for (String annotation : List.of("summary", "description", "runbook")) {
                assertThat(alert.at("/annotations/" + annotation).asText()).as(alert.path("alert").asText() + " " + annotation).isNotBlank();
            }
            assertThat(alert.at("/labels/severity").asText()).isIn("warning", "critical");
        }
    }

    @Test
    void everyAlertHasAUnitTestWhereItFiresAndOneWhereItStaysQuiet() throws IOException {
        Set<String> fires = new HashSet<>();
        Set<String> quiet = new HashSet<>();
        for (JsonNode test : FarmemChart.YAML.readTree(RULE_TESTS.toFile()).path("tests")) {
            for (JsonNode t : test.path("alert_rule_test")) {
                (t.path("exp_alerts").isEmpty() ? quiet : fires).add(t.path("alertname").asText());
            }
        }
        assertThat(fires).containsAll(REQUIRED_ALERTS);
        assertThat(quiet).containsAll(REQUIRED_ALERTS);
    }

    @Test
    void everyRecordingRuleHasAUnitTest() throws IOException {
        Set<String> tested = new HashSet<>();
        for (JsonNode test : FarmemChart.YAML.readTree(RULE_TESTS.toFile()).path("tests")) {
            test.path("promql_expr_test").forEach(t -> tested.addAll(MetricContract.namesIn(t.path("expr").asText())));
        }
        List<String> recorded = rules().stream().filter(r -> r.has("record")).map(r -> r.path("record").asText()).toList();
        assertThat(tested).containsAll(recorded);
    }

    @Test
    void rulesQueryOnlyMetricsOfTheContractOrRecordedHere() throws IOException {
        Set<String> allowed = new HashSet<>(MetricContract.seriesNames());
        rules().stream().filter(r -> r.has("record")).forEach(r -> allowed.add(r.path("record").asText()));
        for (JsonNode rule : rules()) {
            Set<String> names = MetricContract.namesIn(rule.path("expr").asText());
            assertThat(names).as(rule.toString()).isNotEmpty();
            assertThat(allowed).as("names in " + rule.path("expr").asText()).containsAll(names);
        }
    }

    static List<JsonNode> rules() throws IOException {
        List<JsonNode> out = new ArrayList<>();
        FarmemChart.YAML.readTree(RULES.toFile()).path("groups").forEach(g -> g.path("rules").forEach(out::add));
        return out;
    }

    /** Runs promtool and returns its output; fails with what to do when it is missing or reports a problem. */
    static String promtool(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add("promtool");
        cmd.addAll(List.of(args));
        Process p;
        try {
            p = new ProcessBuilder(cmd).directory(FarmemChart.MODULE.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            throw new AssertionError("promtool is not installed: run helm/setup (as root) or apt-get install prometheus", e);
        }
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("promtool " + String.join(" ", args) + " did not finish in 60 s");
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.exitValue()).as("promtool %s:%n%s", String.join(" ", args), out).isZero();
        return out;
    }
}
