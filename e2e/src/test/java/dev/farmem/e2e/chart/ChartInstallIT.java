package dev.farmem.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.Release;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.MemoryNode;
import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;
import dev.farmem.e2e.harness.LocalCluster;
import dev.farmem.e2e.harness.node.NodeSpec;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.ServiceAccountBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The chart installed with real Helm (helm-java) into a cluster of its own on this machine: the API
 * server validates every object, real kubelets run the operator pod and the agent pods from farmem's
 * images, the operator reconciles a pool and a claim with exactly the chart's RBAC (its pod
 * authenticates as the chart's ServiceAccount), and a real Prometheus scrapes all of it with the
 * chart's rules and dashboards ({@link MonitoringQueries}).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChartInstallIT {

    static final String NS = "farmem-system";
    static final String APPS = "apps";
    static final String RESTRICTED = "restricted-check";
    static final String POOL = "rack-t";
    static final String CLAIM = "cache";
    static final Duration WAIT = Duration.ofSeconds(180);

    static LocalCluster cluster;
    static KubernetesClient admin;
    static Path chart;

    @BeforeAll
    static void startAClusterAndInstallTheChart() {
        Assumptions.assumeFalse(Boolean.getBoolean(ControlPlaneExtension.SKIP_PROPERTY),
                "end-to-end tests are skipped (-D" + ControlPlaneExtension.SKIP_PROPERTY + "=true)");
        // A cluster of its own: the chart's operator must be the only one reconciling pools here.
        cluster = LocalCluster.start(List.of(NodeSpec.of("node-1", "zone-a", "rack-1"), NodeSpec.of("node-2", "zone-b", "rack-2")));
        admin = cluster.client();
        chart = Binaries.repoRoot().resolve("helm/farmem");
        // Agent pods need baseline (see the chart README); the operator pod is checked against restricted below.
        namespace(NS, Map.of("pod-security.kubernetes.io/enforce", "baseline", "pod-security.kubernetes.io/warn", "restricted"));
        namespace(APPS, Map.of());
        namespace(RESTRICTED, Map.of("pod-security.kubernetes.io/enforce", "restricted"));

        Release release = new Helm(chart).install().withName("farmem").withNamespace(NS)
                .withValuesFile(chart.resolve("ci/monitoring-values.yaml")).withKubeConfig(cluster.kubeconfig()).call();
        assertThat(release.getStatus()).isEqualTo("deployed");
        assertThat(release.getOutput()).as("NOTES of an install asking for monitoring where the Prometheus Operator is absent")
                .contains("WARNING: monitoring.podMonitors/prometheusRule are enabled but the Prometheus Operator CRDs");
    }

    @AfterAll
    static void stop() {
        if (cluster != null) {
            cluster.close();
        }
    }

    @Test
    @Order(1)
    void withoutThePrometheusOperatorTheMonitoringValuesInstallDashboardsAndTheOperatorComesUpAsAPod() {
        for (String crd : List.of("farmemorypools.farmem.io", "farmemoryclaims.farmem.io", "memorynodes.farmem.io")) {
            assertThat(admin.apiextensions().v1().customResourceDefinitions().withName(crd).get()).as(crd).isNotNull();
        }
        assertThat(admin.getApiGroup("monitoring.coreos.com")).as("no Prometheus Operator in this cluster").isNull();
        assertThat(admin.configMaps().inNamespace(NS).withLabel("grafana_dashboard", "1").list().getItems()).hasSize(3);
        assertThat(admin.admissionRegistration().v1().mutatingWebhookConfigurations().withName("farmem-webhook").get()).isNotNull();

        await("the operator Deployment available (a kubelet runs the operator image, /healthz passes)",
                () -> operatorDeployment().getStatus() != null && Integer.valueOf(1).equals(operatorDeployment().getStatus().getAvailableReplicas()));
        assertThat(operatorPods()).singleElement().satisfies(p -> assertThat(p.getSpec().getServiceAccountName()).isEqualTo("farmem-operator"));
        // webhook.tls=operator: the operator keeps the CA and writes the caBundle, with the chart's narrow grant on this one object.
        await("the operator wrote the webhook's caBundle", () -> admin.admissionRegistration().v1().mutatingWebhookConfigurations()
                .withName("farmem-webhook").get().getWebhooks().get(0).getClientConfig().getCaBundle() != null);
    }

    @Test
    @Order(2)
    void theOperatorPodPassesRestrictedPodSecurityAdmission() {
        admin.serviceAccounts().inNamespace(RESTRICTED).resource(new ServiceAccountBuilder().withNewMetadata().withName("farmem-operator")
                .endMetadata().build()).create();

        Pod admitted = admin.pods().inNamespace(RESTRICTED).resource(operatorPodFromTemplate()).dryRun().create();
        assertThat(admitted.getMetadata().getName()).isEqualTo("farmem-operator-probe");

        // Control: without its security context the same pod is refused, so the admission above did check.
        Pod loose = operatorPodFromTemplate();
        loose.getSpec().setSecurityContext(null);
        loose.getSpec().getContainers().forEach(c -> c.setSecurityContext(null));
        assertThatThrownBy(() -> admin.pods().inNamespace(RESTRICTED).resource(loose).dryRun().create())
                .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getMessage()).contains("violates PodSecurity \"restricted"));
    }

    @Test
    @Order(3)
    void theOperatorReconcilesAPoolAndAClaimWithOnlyTheChartsRbac() {
        kubectl().runWithInput("""
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryPool
                metadata: {name: %s}
                spec:
                  capacity: {perNodeBytes: 67108864, maxNodes: 2}
                  slabSizeBytes: 4194304
                """.formatted(POOL), "apply", "-f", "-").check();
        await("pool " + POOL + " Ready with 2 memory nodes", () -> isTrue(pool(), "Ready"));
        assertThat(agentPods()).hasSize(2).allSatisfy(p -> assertThat(p.getSpec().getServiceAccountName()).isEqualTo("farmem-agent"));

        kubectl().runWithInput("""
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryClaim
                metadata: {name: %s, namespace: %s}
                spec: {pool: %s, sizeBytes: 16777216, replication: 2}
                """.formatted(CLAIM, APPS, POOL), "apply", "-f", "-").check();
        await("claim " + CLAIM + " Bound with its binding Secret", () -> {
            FarMemoryClaim c = admin.resources(FarMemoryClaim.class).inNamespace(APPS).withName(CLAIM).get();
            return c != null && c.getStatus() != null && FarMemoryClaimStatus.BOUND.equals(c.getStatus().phase)
                    && admin.secrets().inNamespace(APPS).withName(CLAIM + "-binding").get() != null;
        });
    }

    @Test
    @Order(4)
    void theServiceAccountsCannotGoBeyondTheirRoles() {
        String memoryNode = admin.resources(MemoryNode.class).list().getItems().get(0).getMetadata().getName();
        try (KubernetesClient agent = clientAs("farmem-agent")) {
            assertThat(agent.resources(MemoryNode.class).withName(memoryNode).get()).isNotNull();
            assertForbidden(() -> agent.resources(MemoryNode.class).withName(memoryNode).delete());
            assertForbidden(() -> agent.resources(MemoryNode.class).list());
            assertForbidden(() -> agent.secrets().inNamespace(NS).list());
            assertForbidden(() -> agent.pods().inNamespace(NS).list());
            assertForbidden(() -> agent.leases().inNamespace(NS).resource(new LeaseBuilder().withNewMetadata().withName("not-mine").endMetadata()
                    .withNewSpec().withHolderIdentity("x").endSpec().build()).create());
        }
        try (KubernetesClient op = clientAs("farmem-operator")) {
            assertForbidden(() -> op.pods().inNamespace(APPS).resource(new PodBuilder().withNewMetadata().withName("x").endMetadata()
                    .withNewSpec().addNewContainer().withName("x").withImage("x").endContainer().endSpec().build()).create());
            assertForbidden(() -> op.nodes().withName("node-1").delete());
            assertForbidden(() -> op.rbac().clusterRoles().list());
            assertForbidden(() -> op.apps().deployments().inNamespace(NS).list());
            assertForbidden(() -> op.configMaps().inNamespace(NS).list());
            assertForbidden(() -> op.namespaces().withName(APPS).get());
            // Binding Secrets go to claim namespaces: the one broad grant, so check it is the only one there.
            op.secrets().inNamespace(APPS).resource(new SecretBuilder().withNewMetadata().withName("rbac-probe").endMetadata()
                    .addToStringData("k", "v").build()).create();
        }
    }

    @Test
    @Order(5)
    void prometheusScrapesTheOperatorTheAgentsAndAClientAndEveryRuleAndPanelHasData() throws Exception {
        try (MonitoringQueries.Run run = MonitoringQueries.scrape(cluster, NS, APPS, CLAIM, Binaries.repoRoot())) {
            assertThat(run.targetsDown()).as("scrape targets down").isEmpty();
            assertThat(run.recordingRulesWithoutData()).as("recording rules without data").isEmpty();
            assertThat(run.dashboardQueriesWithoutData()).as("dashboard queries without data").isEmpty();
            assertThat(run.recordingRules()).hasSize(8);
            assertThat(run.dashboardQueries()).hasSizeGreaterThan(30);
            System.out.printf("FIGURE prometheus: %d targets up, %d recording rules and %d dashboard queries returned data%n",
                    run.targets(), run.recordingRules().size(), run.dashboardQueries().size());
        }
    }

    @Test
    @Order(6)
    void aPodThatAsksForFarMemoryGetsTheSidecarThroughTheChartsWebhook() {
        Pod app = new PodBuilder().withNewMetadata().withName("app").addToLabels("farmem.io/inject", "true")
                .addToAnnotations("farmem.io/claim", CLAIM).endMetadata()
                .withNewSpec().addNewContainer().withName("app").withImage("ghcr.io/farmem/farmem-demo:0.1.0").endContainer().endSpec().build();

        // Dry run: the API server calls the webhook through its Service and returns the mutated pod without storing it.
        Pod mutated = admin.pods().inNamespace(APPS).resource(app).dryRun().create();

        assertThat(mutated.getSpec().getContainers()).extracting(c -> c.getName()).contains("app", "farmem-sidecar");
        assertThat(mutated.getSpec().getContainers().stream().filter(c -> c.getName().equals("farmem-sidecar")).findFirst().orElseThrow()
                .getPorts()).anySatisfy(port -> assertThat(port.getName()).isEqualTo("farmem-metrics"));
    }

    @Test
    @Order(7)
    void upgradeWithChangedValuesRollsTheOperator() {
        String before = operatorPods().get(0).getMetadata().getName();

        Release upgraded = new Helm(chart).upgrade().withName("farmem").withNamespace(NS).withKubeConfig(cluster.kubeconfig())
                .withValuesFile(chart.resolve("ci/monitoring-values.yaml")).set("operator.logLevel", "debug").call();

        assertThat(upgraded.getRevision()).isEqualTo("2");
        await("a new operator pod with the new value, Ready, and the old one gone", () -> {
            List<Pod> pods = operatorPods();
            return pods.size() == 1 && !pods.get(0).getMetadata().getName().equals(before)
                    && pods.get(0).getSpec().getContainers().get(0).getEnv().stream()
                    .anyMatch(e -> e.getName().equals("JAVA_TOOL_OPTIONS") && e.getValue().contains("defaultLogLevel=debug"))
                    && Integer.valueOf(1).equals(operatorDeployment().getStatus().getAvailableReplicas());
        });
        await("the pool stays Ready under the new operator", () -> isTrue(pool(), "Ready"));
    }

    @Test
    @Order(8)
    void onceThePrometheusOperatorCrdsExistAnUpgradeCreatesThePodMonitorsAndTheRule() {
        // Stand-ins for the Prometheus Operator's CRDs (same group, versions and kinds; schema left open):
        // what matters here is that Helm sees the API and the API server stores the chart's objects.
        for (String[] kind : new String[][] {{"PodMonitor", "podmonitors"}, {"PrometheusRule", "prometheusrules"}}) {
            kubectl().runWithInput("""
                    apiVersion: apiextensions.k8s.io/v1
                    kind: CustomResourceDefinition
                    metadata: {name: %2$s.monitoring.coreos.com}
                    spec:
                      group: monitoring.coreos.com
                      scope: Namespaced
                      names: {kind: %1$s, plural: %2$s, listKind: %1$sList, singular: %3$s}
                      versions:
                        - name: v1
                          served: true
                          storage: true
                          schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
                    """.formatted(kind[0], kind[1], kind[0].toLowerCase(java.util.Locale.ROOT)), "apply", "-f", "-").check();
        }
        kubectl().run("wait", "--for=condition=Established", "--timeout=60s",
                "crd/podmonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com").check();

        new Helm(chart).upgrade().withName("farmem").withNamespace(NS).withKubeConfig(cluster.kubeconfig())
                .withValuesFile(chart.resolve("ci/monitoring-values.yaml")).set("operator.logLevel", "debug").call();

        String podMonitors = kubectl().run("get", "podmonitors.monitoring.coreos.com", "-n", NS, "-o", "name").check().out();
        assertThat(podMonitors.lines().toList()).containsExactlyInAnyOrder("podmonitor.monitoring.coreos.com/farmem-operator",
                "podmonitor.monitoring.coreos.com/farmem-agents", "podmonitor.monitoring.coreos.com/farmem-sidecars");
        String rule = kubectl().run("get", "prometheusrules.monitoring.coreos.com", "farmem", "-n", NS,
                "-o", "jsonpath={.spec.groups[*].name}").check().out();
        assertThat(rule).isEqualTo("farmem.recording farmem.alerts");
    }

    // --- helpers ---

    static void namespace(String name, Map<String, String> labels) {
        admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).withLabels(labels).endMetadata().build()).create();
    }

    static Kubectl kubectl() {
        return new Kubectl(cluster.kubeconfig());
    }

    static FarMemoryPool pool() {
        return admin.resources(FarMemoryPool.class).withName(POOL).get();
    }

    static boolean isTrue(FarMemoryPool pool, String type) {
        if (pool == null || pool.getStatus() == null || pool.getStatus().conditions == null) {
            return false;
        }
        return pool.getStatus().conditions.stream().anyMatch((Condition c) -> type.equals(c.getType()) && "True".equals(c.getStatus()));
    }

    static Deployment operatorDeployment() {
        return admin.apps().deployments().inNamespace(NS).withName("farmem-operator").get();
    }

    static List<Pod> operatorPods() {
        return admin.pods().inNamespace(NS).withLabel("app.kubernetes.io/name", "farmem-operator").list().getItems().stream()
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
    }

    static List<Pod> agentPods() {
        return admin.pods().inNamespace(NS).withLabel("app.kubernetes.io/name", "farmem-agent").list().getItems();
    }

    private static Pod operatorPodFromTemplate() {
        var template = operatorDeployment().getSpec().getTemplate();
        return new PodBuilder().withNewMetadata().withName("farmem-operator-probe").withLabels(template.getMetadata().getLabels()).endMetadata()
                .withSpec(template.getSpec()).build();
    }

    /** A client authenticated with a fresh token of the chart's ServiceAccount {@code name}: exactly its RBAC. */
    static KubernetesClient clientAs(String serviceAccount) {
        String token = admin.serviceAccounts().inNamespace(NS).withName(serviceAccount)
                .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(600L).endSpec().build())
                .getStatus().getToken();
        Config config = new ConfigBuilder(Config.empty()).withMasterUrl(admin.getConfiguration().getMasterUrl())
                .withCaCertFile(cluster.controlPlane().caFile().toString()).withOauthToken(token).withNamespace(NS).build();
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    static void assertForbidden(Runnable call) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
    }

    static void await(String what, BooleanSupplier condition) {
        Instant deadline = Instant.now().plus(WAIT);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) {
                throw new AssertionError("timed out after " + WAIT + " waiting for " + what + "\n" + diagnostics());
            }
            PrometheusServer.sleep(250);
        }
    }

    /** What a person would look at: the pool's status, the pods, and the last lines of the operator's and agents' logs. */
    static String diagnostics() {
        StringBuilder b = new StringBuilder();
        FarMemoryPool p = pool();
        b.append("pool status: ").append(p == null || p.getStatus() == null ? "(none)" : Serialization.asYaml(p.getStatus())).append('\n');
        for (Pod pod : admin.pods().inNamespace(NS).list().getItems()) {
            b.append("pod ").append(pod.getMetadata().getName()).append(' ').append(pod.getStatus().getPhase()).append(" on ")
                    .append(pod.getSpec().getNodeName()).append('\n');
            for (var c : pod.getSpec().getContainers()) {
                // kubectl logs, stack frames dropped: the messages say what went wrong
                List<String> lines = new Kubectl(cluster.kubeconfig()).logs(NS, pod.getMetadata().getName(), c.getName()).lines()
                        .filter(l -> !l.startsWith("\tat ") && !l.startsWith("\t... ")).toList();
                b.append("  [").append(c.getName()).append("] kubectl logs:\n");
                lines.subList(Math.max(0, lines.size() - 15), lines.size()).forEach(l -> b.append("  | ").append(l).append('\n'));
            }
        }
        return b.toString();
    }
}
