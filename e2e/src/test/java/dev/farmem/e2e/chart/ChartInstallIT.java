package dev.farmem.e2e.chart;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.Release;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeSpec;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ControlPlane;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

/**
 * The chart installed with real Helm (helm-java) into the real control plane of the test bed: the API
 * server validates every object, Pod Security admission enforces "restricted" on the operator pods,
 * the controller manager rolls the Deployment on upgrade, and RBAC is exercised with the chart's
 * ServiceAccounts' own tokens.
 */
@DisabledIfSystemProperty(named = "farmem.e2e.skip", matches = "true")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChartInstallTest {

    static final String NS = "farmem-system";
    static final String APPS = "apps";
    static final Duration WAIT = Duration.ofSeconds(60);

    static ControlPlane cp;
    static KubernetesClient admin;
    static Path chart;

    @BeforeAll
    static void startControlPlaneAndInstall() {
        cp = ControlPlane.start(Binaries.locate());
        admin = cp.client();
        chart = Binaries.repoRoot().resolve("helm/farmem");
        // The release namespace enforces the restricted Pod Security Standard: an operator pod that breaks it is refused.
        admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NS)
                .addToLabels("pod-security.kubernetes.io/enforce", "restricted").endMetadata().build()).create();
        admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(APPS).endMetadata().build()).create();
        Release release = new Helm(chart).install().withName("farmem").withNamespace(NS)
                .withKubeConfig(cp.kubeconfig()).call();
        assertThat(release.getStatus()).isEqualTo("deployed");
    }

    @AfterAll
    static void stop() {
        if (cp != null) {
            cp.close();
        }
    }

    @Test
    @Order(1)
    void installCreatesTheCrdsAndAnOperatorPodThatRestrictedPodSecurityAdmits() {
        for (String crd : List.of("farmemorypools.farmem.io", "farmemoryclaims.farmem.io", "memorynodes.farmem.io")) {
            assertThat(admin.apiextensions().v1().customResourceDefinitions().withName(crd).get()).as(crd).isNotNull();
        }
        assertThat(admin.admissionRegistration().v1().mutatingWebhookConfigurations().withName("farmem-webhook").get()).isNotNull();
        assertThat(admin.secrets().inNamespace(NS).withName("farmem-webhook-tls").get()).isNotNull();

        // The pod the Deployment makes, submitted (dry run) through admission of the namespace that enforces "restricted".
        Pod pod = operatorPod();
        Pod admitted = admin.pods().inNamespace(NS).resource(pod).dryRun().create();
        assertThat(admitted.getSpec().getServiceAccountName()).isEqualTo("farmem-operator");

        // Control: the same pod without its security context is refused, so the admission above did check.
        Pod loose = operatorPod();
        loose.getSpec().setSecurityContext(null);
        loose.getSpec().getContainers().forEach(c -> c.setSecurityContext(null));
        assertThatThrownBy(() -> admin.pods().inNamespace(NS).resource(loose).dryRun().create())
                .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getMessage()).contains("violates PodSecurity \"restricted"));
    }

    @Test
    @Order(2)
    void upgradeWithChangedValuesChangesTheOperatorPodTemplateSoTheDeploymentRolls() {
        Deployment before = operatorDeployment();

        Release upgraded = new Helm(chart).upgrade().withName("farmem").withNamespace(NS).withKubeConfig(cp.kubeconfig())
                .set("operator.logLevel", "debug").call();

        assertThat(upgraded.getRevision()).isEqualTo("2");
        Deployment after = operatorDeployment();
        assertThat(after.getMetadata().getGeneration()).isGreaterThan(before.getMetadata().getGeneration());
        assertThat(after.getSpec().getTemplate()).isNotEqualTo(before.getSpec().getTemplate());
        assertThat(after.getSpec().getTemplate().getSpec().getContainers().get(0).getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("FARMEM_LOG_LEVEL");
            assertThat(e.getValue()).isEqualTo("debug");
        });
        assertThat(after.getSpec().getStrategy().getRollingUpdate().getMaxUnavailable().getIntVal()).isZero();
    }

    @Test
    @Order(3)
    void theAgentServiceAccountMayWriteOnlyItsMemoryNodeStatusAndLease() {
        MemoryNode node = new MemoryNode();
        node.getMetadata().setName("p1-node-a-x1");
        node.setSpec(new MemoryNodeSpec());
        node.getSpec().pool = "p1";
        node.getSpec().nodeName = "node-a";
        node.getSpec().namespace = NS;
        node.getSpec().capacityBytes = 64L << 20;
        node.getSpec().slabSizeBytes = 1L << 20;
        admin.resource(node).create();

        try (KubernetesClient agent = clientAs("farmem-agent")) {
            MemoryNode mine = agent.resources(MemoryNode.class).withName("p1-node-a-x1").get();
            mine.setStatus(new MemoryNodeStatus());
            mine.getStatus().phase = MemoryNodeStatus.READY;
            mine.getStatus().endpoint = "127.0.0.1:7070";
            agent.resource(mine).updateStatus();
            agent.leases().inNamespace(NS).resource(new LeaseBuilder().withNewMetadata().withName("p1-node-a-x1").endMetadata()
                    .withNewSpec().withHolderIdentity("p1-node-a-x1").withLeaseDurationSeconds(15).endSpec().build()).create();

            assertForbidden(() -> agent.resources(MemoryNode.class).withName("p1-node-a-x1").delete());
            assertForbidden(() -> agent.secrets().inNamespace(NS).list());
            assertForbidden(() -> agent.pods().inNamespace(NS).list());
            assertForbidden(() -> agent.leases().inNamespace(APPS).list());
        }
        assertThat(admin.resources(MemoryNode.class).withName("p1-node-a-x1").get().getStatus().phase).isEqualTo(MemoryNodeStatus.READY);
    }

    @Test
    @Order(4)
    void theOperatorServiceAccountMayDoWhatReconcilingNeedsAndNoMore() {
        try (KubernetesClient op = clientAs("farmem-operator")) {
            op.resources(dev.farmem.crds.FarMemoryPool.class).list();
            op.resources(dev.farmem.crds.FarMemoryClaim.class).inAnyNamespace().list();
            op.nodes().list();
            op.secrets().inNamespace(APPS).resource(new SecretBuilder().withNewMetadata().withName("cache-binding").endMetadata()
                    .addToStringData("binding.json", "{}").build()).create();
            op.pods().inNamespace(NS).resource(agentPod()).create();
            op.leases().inNamespace(NS).list();

            assertForbidden(() -> op.pods().inNamespace(APPS).resource(agentPod()).create());
            assertForbidden(() -> op.nodes().withName("any").delete());
            assertForbidden(() -> op.rbac().clusterRoles().list());
            assertForbidden(() -> op.apps().deployments().inNamespace(NS).list());
        }
    }

    private static Pod agentPod() {
        return new PodBuilder().withNewMetadata().withName("rbac-probe").endMetadata().withNewSpec()
                .withNewSecurityContext().withRunAsNonRoot(true).withRunAsUser(10001L).withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile().endSecurityContext()
                .addNewContainer().withName("agent").withImage("ghcr.io/farmem/farmem-agent:0.1.0")
                .withNewSecurityContext().withAllowPrivilegeEscalation(false).withNewCapabilities().addToDrop("ALL").endCapabilities().endSecurityContext()
                .endContainer().endSpec().build();
    }

    /** A client authenticated with a fresh token of the chart's ServiceAccount {@code name}: exactly its RBAC. */
    static KubernetesClient clientAs(String serviceAccount) {
        String token = admin.serviceAccounts().inNamespace(NS).withName(serviceAccount)
                .tokenRequest(new TokenRequestBuilder().withNewSpec().withExpirationSeconds(600L).endSpec().build())
                .getStatus().getToken();
        Config config = new ConfigBuilder(Config.empty()).withMasterUrl(admin.getConfiguration().getMasterUrl())
                .withCaCertFile(cp.caFile().toString()).withOauthToken(token).withNamespace(NS).build();
        return new KubernetesClientBuilder().withConfig(config).build();
    }

    static void assertForbidden(Runnable call) {
        assertThatThrownBy(call::run).isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getCode()).isEqualTo(403));
    }

    private static Deployment operatorDeployment() {
        return admin.apps().deployments().inNamespace(NS).withName("farmem-operator").get();
    }

    private static Pod operatorPod() {
        var template = operatorDeployment().getSpec().getTemplate();
        return new PodBuilder().withNewMetadata().withName("farmem-operator-probe").withLabels(template.getMetadata().getLabels()).endMetadata()
                .withSpec(template.getSpec()).build();
    }

    static void await(String what, BooleanSupplier condition) {
        Instant deadline = Instant.now().plus(WAIT);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) {
                throw new AssertionError("timed out after " + WAIT + " waiting for " + what);
            }
            PrometheusServer.sleep(250);
        }
    }
}
