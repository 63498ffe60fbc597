package dev.farmem.helm;

import static dev.farmem.helm.FarmemChart.NAMESPACE;
import static dev.farmem.helm.FarmemChart.YAML;
import static dev.farmem.helm.FarmemChart.ofKind;
import static dev.farmem.helm.FarmemChart.one;
import static dev.farmem.helm.FarmemChart.operatorEnv;
import static dev.farmem.helm.FarmemChart.template;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** helm template through real Helm: what the chart renders for the default and the monitoring values. */
class ChartTemplateTest {

    @Test
    void defaultValuesRenderTheOperatorItsRbacAndTheWebhookButNoMonitoringObjects() {
        List<JsonNode> manifests = template(Map.of());

        assertThat(manifests).extracting(m -> m.path("kind").asText()).containsExactlyInAnyOrder(
                "ServiceAccount", "ServiceAccount", "ClusterRole", "ClusterRole",
                "ClusterRoleBinding", "ClusterRoleBinding", "Role", "Role", "RoleBinding", "RoleBinding",
                "Service", "Deployment", "MutatingWebhookConfiguration");
        manifests.stream().filter(m -> !m.path("kind").asText().startsWith("Cluster")
                        && !m.path("kind").asText().equals("MutatingWebhookConfiguration"))
                .forEach(m -> assertThat(m.at("/metadata/namespace").asText()).as(m.path("kind").asText()).isEqualTo(NAMESPACE));

        JsonNode deployment = one(manifests, "Deployment");
        assertThat(deployment.at("/spec/replicas").asInt()).isEqualTo(1);
        JsonNode container = deployment.at("/spec/template/spec/containers/0");
        assertThat(container.path("image").asText()).isEqualTo("ghcr.io/farmem/farmem-operator:" + FarmemChart.appVersion());
        assertThat(container.path("imagePullPolicy").asText()).isEqualTo("IfNotPresent");
        assertThat(container.at("/resources/requests/memory").asText()).isEqualTo("256Mi");
        for (String probe : List.of("startupProbe", "livenessProbe", "readinessProbe")) {
            assertThat(container.at("/" + probe + "/httpGet/port").asText()).as(probe).isEqualTo("metrics");
        }
        assertThat(deployment.at("/spec/template/spec/serviceAccountName").asText()).isEqualTo("farmem-operator");
        assertThat(operatorEnv(manifests))
                .containsEntry("FARMEM_LEADER_ELECTION", "true")
                .containsEntry("JAVA_TOOL_OPTIONS", "-Dorg.slf4j.simpleLogger.defaultLogLevel=info")
                .containsEntry("FARMEM_AGENT_IMAGE", "ghcr.io/farmem/farmem-agent:" + FarmemChart.appVersion())
                .containsEntry("FARMEM_SIDECAR_IMAGE", "ghcr.io/farmem/farmem-sidecar:" + FarmemChart.appVersion())
                .containsEntry("FARMEM_AGENT_SERVICE_ACCOUNT", "farmem-agent")
                .containsEntry("FARMEM_RDMA_RESOURCE", "")
                .containsEntry("FARMEM_METRICS", "$(FARMEM_POD_IP):8080")
                .containsEntry("FARMEM_WEBHOOK_TLS", "operator")
                .containsEntry("FARMEM_WEBHOOK_SECRET", "farmem-webhook-ca")
                .containsEntry("FARMEM_WEBHOOK_CONFIGURATION", "farmem-webhook")
                .containsEntry("FARMEM_SIDECAR_CPU_REQUEST", "100m")
                .containsEntry("FARMEM_SIDECAR_CACHE_BYTES", "64Mi");
    }

    @Test
    void everyContainerMeetsTheRestrictedPodSecurityStandard() {
        JsonNode pod = one(template(Map.of()), "Deployment").at("/spec/template/spec");
        assertThat(pod.at("/securityContext/runAsNonRoot").asBoolean()).isTrue();
        assertThat(pod.at("/securityContext/seccompProfile/type").asText()).isEqualTo("RuntimeDefault");
        assertThat(pod.path("containers")).isNotEmpty();
        for (JsonNode c : pod.path("containers")) {
            JsonNode sc = c.path("securityContext");
            assertThat(sc.path("allowPrivilegeEscalation").asBoolean(true)).as(c.path("name").asText()).isFalse();
            assertThat(sc.path("runAsNonRoot").asBoolean()).isTrue();
            assertThat(sc.path("runAsUser").asInt()).isPositive();
            assertThat(sc.path("readOnlyRootFilesystem").asBoolean()).isTrue();
            assertThat(sc.at("/capabilities/drop")).extracting(JsonNode::asText).containsExactly("ALL");
            assertThat(sc.at("/capabilities/add").isMissingNode()).isTrue();
            assertThat(sc.at("/seccompProfile/type").asText()).isEqualTo("RuntimeDefault");
        }
        assertThat(pod.path("hostNetwork").asBoolean(false)).isFalse();
    }

    @Test
    void imagesTagsPullPolicyAndRdmaResourceNameAreValues() {
        List<JsonNode> manifests = template(Map.of(
                "images.operator.tag", "1.2.3",
                "images.agent.repository", "registry.example/agent",
                "images.pullPolicy", "Always",
                "images.pullSecrets[0]", "regcred",
                "rdma.enabled", "true",
                "rdma.resourceName", "rdma/roce"));

        JsonNode pod = one(manifests, "Deployment").at("/spec/template/spec");
        assertThat(pod.at("/containers/0/image").asText()).isEqualTo("ghcr.io/farmem/farmem-operator:1.2.3");
        assertThat(pod.at("/containers/0/imagePullPolicy").asText()).isEqualTo("Always");
        assertThat(pod.at("/imagePullSecrets/0/name").asText()).isEqualTo("regcred");
        assertThat(operatorEnv(manifests))
                .containsEntry("FARMEM_AGENT_IMAGE", "registry.example/agent:" + FarmemChart.appVersion())
                .containsEntry("FARMEM_IMAGE_PULL_POLICY", "Always")
                .containsEntry("FARMEM_IMAGE_PULL_SECRETS", "regcred")
                .containsEntry("FARMEM_RDMA_RESOURCE", "rdma/roce");
    }

    @Test
    void changedValuesChangeTheOperatorPodTemplateSoThatUpgradeRollsItAndSameValuesDoNot() {
        JsonNode before = podTemplate(template(Map.of()));
        JsonNode same = podTemplate(template(Map.of()));
        JsonNode changed = podTemplate(template(Map.of("operator.logLevel", "debug")));

        assertThat(same).isEqualTo(before);
        assertThat(changed).isNotEqualTo(before);
    }

    @Test
    void aChartMadeCertificateIsNewAtEveryRenderAndItsChecksumRollsTheOperator() {
        JsonNode first = podTemplate(template(Map.of("webhook.tls", "chart")));
        JsonNode second = podTemplate(template(Map.of("webhook.tls", "chart")));

        assertThat(first.at("/metadata/annotations/checksum~1webhook-tls").asText()).hasSize(64)
                .isNotEqualTo(second.at("/metadata/annotations/checksum~1webhook-tls").asText());
    }

    @Test
    void operatorManagedCertificateGrantsTheOperatorOnlyItsOwnWebhookConfiguration() {
        JsonNode role = ofKind(template(Map.of()), "ClusterRole").stream()
                .filter(r -> r.at("/metadata/name").asText().equals("farmem-operator")).findFirst().orElseThrow();
        JsonNode rule = java.util.stream.StreamSupport.stream(role.path("rules").spliterator(), false)
                .filter(r -> r.at("/resources/0").asText().equals("mutatingwebhookconfigurations")).findFirst().orElseThrow();
        assertThat(rule.path("resourceNames")).extracting(JsonNode::asText).containsExactly("farmem-webhook");
        assertThat(rule.path("verbs")).extracting(JsonNode::asText).containsExactly("get", "patch");
        assertThat(ofKind(template(Map.of("webhook.tls", "chart")), "ClusterRole")).allSatisfy(r ->
                assertThat(r.toString()).doesNotContain("mutatingwebhookconfigurations"));
    }

    @Test
    void chartMadeCaBundleSignsAServingCertificateForItsServiceAndOnlyLabelledPodsAreSent() throws Exception {
        List<JsonNode> manifests = template(Map.of("webhook.tls", "chart"));
        JsonNode secret = one(manifests, "Secret");
        JsonNode webhook = one(manifests, "MutatingWebhookConfiguration").at("/webhooks/0");

        assertThat(webhook.at("/clientConfig/caBundle").asText()).isEqualTo(secret.at("/data/ca.crt").asText());
        X509Certificate ca = certificate(secret.at("/data/ca.crt").asText());
        X509Certificate serving = certificate(secret.at("/data/tls.crt").asText());
        serving.verify(ca.getPublicKey()); // throws when the CA did not sign it
        String service = one(manifests, "Service").at("/metadata/name").asText() + "." + NAMESPACE + ".svc";
        assertThat(serving.getSubjectAlternativeNames()).extracting(san -> (Object) san.get(1)).contains(service);
        assertThat(webhook.at("/clientConfig/service/name").asText() + "." + NAMESPACE + ".svc").isEqualTo(service);

        assertThat(webhook.at("/objectSelector/matchLabels/farmem.io~1inject").asText()).isEqualTo("true");
        assertThat(webhook.at("/namespaceSelector/matchExpressions/0/values")).extracting(JsonNode::asText).contains(NAMESPACE, "kube-system");
        assertThat(webhook.at("/sideEffects").asText()).isEqualTo("None");
        assertThat(webhook.at("/rules/0/resources/0").asText()).isEqualTo("pods");
    }

    @Test
    void webhookDisabledRendersNoWebhookObjectsAndNoWebhookPort() {
        List<JsonNode> manifests = template(Map.of("webhook.enabled", "false"));

        assertThat(ofKind(manifests, "MutatingWebhookConfiguration")).isEmpty();
        assertThat(ofKind(manifests, "Secret")).isEmpty();
        assertThat(ofKind(manifests, "Service")).isEmpty();
        JsonNode container = one(manifests, "Deployment").at("/spec/template/spec/containers/0");
        assertThat(container.path("ports")).extracting(p -> p.path("name").asText()).containsExactly("metrics");
        assertThat(operatorEnv(manifests)).containsEntry("FARMEM_WEBHOOK_ENABLED", "false");
    }

    @Test
    void certManagerModeAsksForACertificateAndInjectsItsCa() {
        List<JsonNode> manifests = template(Map.of("webhook.tls", "cert-manager"));

        assertThat(ofKind(manifests, "Secret")).isEmpty();
        JsonNode certificate = one(manifests, "Certificate");
        assertThat(certificate.at("/spec/secretName").asText()).isEqualTo("farmem-webhook-tls");
        assertThat(certificate.at("/spec/issuerRef/name").asText()).isEqualTo(one(manifests, "Issuer").at("/metadata/name").asText());
        JsonNode webhookConfig = one(manifests, "MutatingWebhookConfiguration");
        assertThat(webhookConfig.at("/metadata/annotations/cert-manager.io~1inject-ca-from").asText()).isEqualTo(NAMESPACE + "/farmem-webhook");
        assertThat(webhookConfig.at("/webhooks/0/clientConfig/caBundle").isMissingNode()).isTrue();
    }

    @Test
    void monitoringValuesRenderPodMonitorsTheRuleAndDashboardsWhenThePrometheusOperatorIsThere() throws Exception {
        // helm template has no cluster to ask for the monitoring.coreos.com CRDs: requireCrds=false stands in for them.
        List<JsonNode> manifests = template(FarmemChart.MONITORING_VALUES, Map.of("monitoring.requireCrds", "false"));

        List<JsonNode> podMonitors = ofKind(manifests, "PodMonitor");
        assertThat(podMonitors).extracting(m -> m.at("/metadata/name").asText())
                .containsExactlyInAnyOrder("farmem-operator", "farmem-agents", "farmem-sidecars");
        for (JsonNode pm : podMonitors) {
            assertThat(pm.at("/metadata/labels/release").asText()).isEqualTo("kube-prometheus-stack");
            assertThat(pm.at("/spec/podMetricsEndpoints/0/interval").asText()).isEqualTo("15s");
        }
        JsonNode agents = podMonitors.stream().filter(m -> m.at("/metadata/name").asText().equals("farmem-agents")).findFirst().orElseThrow();
        assertThat(agents.at("/spec/podMetricsEndpoints/0/relabelings")).extracting(r -> r.path("targetLabel").asText())
                .containsExactly("pool", "node", "pod");

        JsonNode rule = one(manifests, "PrometheusRule");
        JsonNode ruleFile = YAML.readTree(FarmemChart.DIR.resolve("files/prometheus-rules.yaml").toFile());
        assertThat(rule.path("spec")).as("the PrometheusRule is the promtool-tested rule file").isEqualTo(ruleFile);

        List<JsonNode> dashboards = ofKind(manifests, "ConfigMap");
        assertThat(dashboards).hasSize(3);
        for (JsonNode cm : dashboards) {
            assertThat(cm.at("/metadata/labels/grafana_dashboard").asText()).isEqualTo("1");
            var entry = cm.path("data").fields().next();
            JsonNode shipped = FarmemChart.JSON.readTree(FarmemChart.DIR.resolve("dashboards").resolve(entry.getKey()).toFile());
            assertThat(FarmemChart.JSON.readTree(entry.getValue().asText())).isEqualTo(shipped);
        }
    }

    @Test
    void withoutThePrometheusOperatorCrdsTheMonitoringValuesRenderOnlyTheDashboards() {
        List<JsonNode> manifests = template(FarmemChart.MONITORING_VALUES, Map.of());

        assertThat(ofKind(manifests, "PodMonitor")).isEmpty();
        assertThat(ofKind(manifests, "PrometheusRule")).isEmpty();
        assertThat(ofKind(manifests, "ConfigMap")).hasSize(3);
        assertThat(ofKind(manifests, "Deployment")).hasSize(1);
    }

    @Test
    void rbacGrantsNoWildcardAndNoPrivilegeEscalationVerbs() {
        List<JsonNode> manifests = template(Map.of());
        List<JsonNode> roles = new ArrayList<>(ofKind(manifests, "ClusterRole"));
        roles.addAll(ofKind(manifests, "Role"));
        for (JsonNode role : roles) {
            for (JsonNode rule : role.path("rules")) {
                List<String> words = new ArrayList<>();
                rule.path("verbs").forEach(v -> words.add(v.asText()));
                rule.path("resources").forEach(v -> words.add(v.asText()));
                rule.path("apiGroups").forEach(v -> words.add(v.asText()));
                assertThat(words).as(role.at("/metadata/name").asText()).doesNotContain("*", "escalate", "bind", "impersonate");
            }
        }
        JsonNode agentRole = ofKind(manifests, "ClusterRole").stream()
                .filter(r -> r.at("/metadata/name").asText().equals("farmem-agent")).findFirst().orElseThrow();
        assertThat(agentRole.path("rules")).allSatisfy(r -> assertThat(r.at("/resources/0").asText()).startsWith("memorynodes"));
    }

    @Test
    void badValuesFailWithAMessageThatNamesTheValue() {
        assertThatThrownBy(() -> template(Map.of("operator.replica", "2")))
                .hasMessageContaining("operator: Additional property replica is not allowed");
        assertThatThrownBy(() -> template(Map.of("images.pullPolicy", "Sometimes")))
                .hasMessageContaining("images.pullPolicy must be one of the following");
        assertThatThrownBy(() -> template(Map.of("operator.replicas", "2", "operator.leaderElection.enabled", "false")))
                .hasMessageContaining("operator.leaderElection.enabled=true");
        assertThatThrownBy(() -> template(Map.of("sidecar.metricsPort", "70000")))
                .hasMessageContaining("sidecar.metricsPort: Must be less than or equal to 65535");
        // An extended resource has a domain prefix; the operator would refuse this at start.
        assertThatThrownBy(() -> template(Map.of("rdma.resourceName", "hca_shared_devices_a")))
                .hasMessageContaining("rdma.resourceName");
    }

    @Test
    void notesTellWhatToDoNextAndWarnWhenMonitoringIsAskedWithoutThePrometheusOperator() {
        String plain = FarmemChart.installNotes(null);
        String monitoring = FarmemChart.installNotes(FarmemChart.MONITORING_VALUES);

        assertThat(plain).contains("rollout status deployment/farmem-operator", "kind: FarMemoryPool", "kind: FarMemoryClaim",
                "farmem.io/claim: cache", "kubectl apply --server-side -f").doesNotContain("WARNING");
        assertThat(monitoring).contains("WARNING: monitoring.podMonitors/prometheusRule are enabled but the Prometheus Operator CRDs",
                "Grafana dashboards: ConfigMaps labelled grafana_dashboard=1 in farmem-system");
    }

    @Test
    void lintPassesStrictForTheDefaultAndTheMonitoringValues(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        for (var values : java.util.Arrays.asList(null, FarmemChart.MONITORING_VALUES)) {
            java.nio.file.Path work = Files.createDirectories(tmp.resolve(values == null ? "default" : "monitoring"));
            var result = FarmemChart.lint(values, work);
            assertThat(result.isFailed()).as("helm lint --strict: %s", result.getMessages()).isFalse();
            assertThat(result.getMessages()).noneMatch(m -> m.contains("[WARNING]") || m.contains("[ERROR]"));
        }
    }

    private static JsonNode podTemplate(List<JsonNode> manifests) {
        return one(manifests, "Deployment").at("/spec/template");
    }

    private static X509Certificate certificate(String base64Pem) throws Exception {
        byte[] pem = Base64.getDecoder().decode(base64Pem);
        return (X509Certificate) CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(pem));
    }
}
