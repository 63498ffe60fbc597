package dev.farmem.e2e.sidecar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.Release;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;
import dev.farmem.e2e.harness.LocalCluster;
import dev.farmem.e2e.harness.node.NodeSpec;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 8 on a real control plane: the chart's operator serves the injection webhook (TLS from
 * its own CA), a pod of the demo workload that names a Bound claim is admitted with the
 * sidecar, a real kubelet runs both containers, the application writes and reads far memory
 * through the sidecar and the real agents, its acknowledged rounds survive a kill -9 of the
 * sidecar, a second pod for the same claim is refused while the first runs, and deleting the
 * first pod releases the claim for another one.
 */
class SidecarInjectionIT {

    static final String NS = "farmem-system";
    static final String APPS = "apps";
    static final String POOL = "rack-s";
    static final String CLAIM = "demo-cache";
    static final Duration WAIT = Duration.ofSeconds(180);
    static final long APP_UID = 2000;

    static LocalCluster cluster;
    static KubernetesClient admin;

    @BeforeAll
    static void clusterWithTheChartAPoolAndAClaim() {
        Assumptions.assumeFalse(Boolean.getBoolean(ControlPlaneExtension.SKIP_PROPERTY),
                "end-to-end tests are skipped (-D" + ControlPlaneExtension.SKIP_PROPERTY + "=true)");
        cluster = LocalCluster.start(List.of(NodeSpec.of("node-1", "zone-a", "rack-1"), NodeSpec.of("node-2", "zone-b", "rack-2")));
        admin = cluster.client();
        Path chart = Binaries.repoRoot().resolve("helm/farmem");
        admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NS)
                .addToLabels("pod-security.kubernetes.io/enforce", "baseline").endMetadata().build()).create();
        // The application namespace enforces restricted: the API server checks the pod as the webhook left it.
        admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(APPS)
                .addToLabels("pod-security.kubernetes.io/enforce", "restricted").endMetadata().build()).create();
        Release release = new Helm(chart).install().withName("farmem").withNamespace(NS).withKubeConfig(cluster.kubeconfig()).call();
        assertThat(release.getStatus()).isEqualTo("deployed");
        await("the operator wrote the webhook's caBundle", () -> {
            var cfg = admin.admissionRegistration().v1().mutatingWebhookConfigurations().withName("farmem-webhook").get();
            return cfg != null && cfg.getWebhooks().get(0).getClientConfig().getCaBundle() != null;
        });
        kubectl().runWithInput("""
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryPool
                metadata: {name: %s}
                spec:
                  capacity: {perNodeBytes: 67108864, maxNodes: 2}
                  slabSizeBytes: 4194304
                """.formatted(POOL), "apply", "-f", "-").check();
        kubectl().runWithInput("""
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryClaim
                metadata: {name: %s, namespace: %s}
                spec: {pool: %s, sizeBytes: 16777216, replication: 2}
                """.formatted(CLAIM, APPS, POOL), "apply", "-f", "-").check();
        await("claim " + CLAIM + " Bound", () -> {
            FarMemoryClaim c = admin.resources(FarMemoryClaim.class).inNamespace(APPS).withName(CLAIM).get();
            return c != null && c.getStatus() != null && FarMemoryClaimStatus.BOUND.equals(c.getStatus().phase);
        });
    }

    @AfterAll
    static void stop() {
        if (cluster != null) cluster.close();
    }

    static Pod demoPod(String name, String claim) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace(APPS)
                .addToLabels("farmem.io/inject", "true")
                .addToAnnotations("farmem.io/claim", claim).addToAnnotations("farmem.io/cache-size", "512Ki")
                .endMetadata()
                .withNewSpec()
                .withNewSecurityContext().withRunAsNonRoot(true).withRunAsUser(APP_UID).withNewSeccompProfile().withType("RuntimeDefault")
                .endSeccompProfile().endSecurityContext()
                .addNewContainer().withName("app").withImage("ghcr.io/farmem/farmem-demo:0.1.0")
                .withArgs("--bytes", "2MiB", "--interval-ms", "300")
                .withNewSecurityContext().withAllowPrivilegeEscalation(false).withNewCapabilities().addToDrop("ALL").endCapabilities()
                .endSecurityContext().endContainer().endSpec().build();
    }

    @Test
    void anAnnotatedPodGetsTheSidecarItsDataSurvivesASidecarKillAndDeletingItReleasesTheClaim() throws Exception {
        // A claim that does not exist: refused with what to do.
        assertThatThrownBy(() -> admin.pods().inNamespace(APPS).resource(demoPod("orphan", "no-such-claim")).create())
                .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getMessage())
                        .contains("FarMemoryClaim no-such-claim does not exist in namespace apps"));

        Pod created = admin.pods().inNamespace(APPS).resource(demoPod("demo", CLAIM)).create();
        assertThat(created.getSpec().getContainers()).extracting(Container::getName).containsExactly("app", "farmem-sidecar");
        assertThat(created.getSpec().getContainers().get(1).getSecurityContext().getRunAsUser())
                .as("the sidecar runs as the application's user, so both may write the shared files").isEqualTo(APP_UID);
        assertThat(created.getMetadata().getLabels()).containsEntry("farmem.io/claim", CLAIM);
        assertThat(created.getSpec().getVolumes()).filteredOn(v -> v.getName().equals("farmem-shm"))
                .singleElement().satisfies(v -> assertThat(v.getEmptyDir().getMedium()).isEqualTo("Memory"));

        await("the demo app acknowledged 3 rounds through the sidecar", () -> log("demo", "app").contains("round 3 written and flushed"));
        assertThat(log("demo", "app")).contains("farmem-demo: round 2 verified");

        // One runtime per claim: a second pod is refused while the first runs.
        assertThatThrownBy(() -> admin.pods().inNamespace(APPS).resource(demoPod("second", CLAIM)).create())
                .isInstanceOfSatisfying(KubernetesClientException.class, e -> assertThat(e.getMessage())
                        .contains("is attached to pod demo"));

        // kill -9 of the sidecar: the kubelet restarts it, it re-attaches to the pod's shared memory, nothing acknowledged is lost.
        String uid = created.getMetadata().getUid();
        ProcessHandle sidecar = sidecarProcess(uid).orElseThrow(() -> new AssertionError("no sidecar process for pod demo"));
        long roundsBefore = countLines(log("demo", "app"), "written and flushed");
        sidecar.destroyForcibly();
        await("a new sidecar process for pod demo", () -> sidecarProcess(uid).filter(p -> p.pid() != sidecar.pid()).isPresent());
        await("the demo app verified and acknowledged rounds after the restart",
                () -> countLines(log("demo", "app"), "written and flushed") >= roundsBefore + 3);
        assertThat(log("demo", "app")).doesNotContain("LOST");
        assertThat(log("demo", "farmem-sidecar")).contains("re-attached to the cache a previous sidecar left");
        Pod running = admin.pods().inNamespace(APPS).withName("demo").get();
        assertThat(running.getStatus().getContainerStatuses()).anySatisfy(s -> {
            assertThat(s.getName()).isEqualTo("farmem-sidecar");
            assertThat(s.getRestartCount()).isGreaterThanOrEqualTo(1);
        });

        // kubectl delete releases the attachment: another pod for the claim is admitted and reads on from the agents.
        kubectl().run("delete", "pod", "demo", "-n", APPS, "--wait=true").check();
        Pod next = admin.pods().inNamespace(APPS).resource(demoPod("demo-next", CLAIM)).create();
        assertThat(next.getSpec().getContainers()).extracting(Container::getName).contains("farmem-sidecar");
        await("the next pod resumed from the claim's last acknowledged round", () -> {
            String l = log("demo-next", "app");
            return l.contains("resuming after round") && !l.contains("resuming after round 0") && l.contains("verified");
        });
        assertThat(log("demo-next", "app")).doesNotContain("LOST");
    }

    /**
     * The sidecar's JVM of pod {@code uid}, seen from the node's host: a process running SidecarMain in the pod's cgroup
     * (a kill -9 from inside the container would not do: the JVM is the container's PID 1, which ignores it).
     */
    static Optional<ProcessHandle> sidecarProcess(String uid) {
        String podCgroup = "pod" + uid;
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().orElse("").contains("dev.farmem.client.sidecar.SidecarMain"))
                .filter(p -> read(Path.of("/proc", Long.toString(p.pid()), "cgroup")).contains(podCgroup))
                .findFirst();
    }

    static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    /** What kubectl logs shows for the container, or "" while it has none. */
    static String log(String pod, String container) {
        try {
            String log = admin.pods().inNamespace(APPS).withName(pod).inContainer(container).getLog();
            return log == null ? "" : log;
        } catch (RuntimeException e) {
            return "";
        }
    }

    static long countLines(String text, String needle) {
        return text.lines().filter(l -> l.contains(needle)).count();
    }

    static Kubectl kubectl() {
        return new Kubectl(cluster.kubeconfig());
    }

    static void await(String what, BooleanSupplier condition) {
        Instant deadline = Instant.now().plus(WAIT);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) {
                throw new AssertionError("timed out after " + WAIT + " waiting for " + what + "\n" + diagnostics());
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
    }

    static String diagnostics() {
        StringBuilder b = new StringBuilder();
        FarMemoryPool p = admin.resources(FarMemoryPool.class).withName(POOL).get();
        b.append("pool: ").append(p == null || p.getStatus() == null ? "(none)" : p.getStatus().toString()).append('\n');
        for (String ns : List.of(NS, APPS)) {
            for (Pod pod : admin.pods().inNamespace(ns).list().getItems()) {
                b.append("pod ").append(ns).append('/').append(pod.getMetadata().getName()).append(' ').append(pod.getStatus().getPhase()).append('\n');
                for (Container c : pod.getSpec().getContainers()) {
                    List<String> lines = kubectl().logs(ns, pod.getMetadata().getName(), c.getName()).lines().filter(l -> !l.startsWith("\tat ")).toList();
                    b.append("  [").append(c.getName()).append("] kubectl logs:\n");
                    lines.subList(Math.max(0, lines.size() - 12), lines.size()).forEach(l -> b.append("  | ").append(l).append('\n'));
                }
            }
        }
        return b.toString();
    }
}
