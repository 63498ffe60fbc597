package dev.farmem.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.LocalCluster;
import dev.farmem.e2e.harness.node.NodeSpec;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * {@code close()} (what {@code e2e/cluster down} does) leaves nothing behind: no process, mount, network namespace,
 * bridge, route, iptables rule, cgroup or directory of the cluster, and the kernel settings its kubelets change are
 * back to what they were. A running pod makes sure there is something to clean: a container, its mounts and its
 * network namespace.
 */
class TeardownIT {
    /** The machine-wide settings a kubelet changes at start (see e2e/bin/cluster-net). */
    private static final List<String> KERNEL_SETTINGS = List.of("vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic",
            "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes");

    @Test
    void aClusterTakenDownLeavesNothingBehindAndRestoresTheKernelSettings() throws Exception {
        Assumptions.assumeFalse(Boolean.getBoolean(ControlPlaneExtension.SKIP_PROPERTY), "end-to-end tests are skipped");
        Assumptions.assumeTrue(System.getenv("KUBECONFIG") == null || System.getenv("KUBECONFIG").isBlank(),
                "KUBECONFIG names another cluster: this test is about the local one");
        Map<String, String> before = kernelSettings();
        LocalCluster cluster = LocalCluster.start(List.of(NodeSpec.of("node-t", "zone-a", "rack-1")));
        int k = cluster.controlPlane().network().block();
        Path dir = cluster.controlPlane().directory();
        try {
            runAPod(cluster);
            assertThat(run("ip", "netns", "list")).contains("fm" + k + "n0");
            assertThat(run("findmnt", "-rn", "-o", "TARGET")).contains(dir.toString());
            assertThat(Path.of("/sys/fs/cgroup/memory/farmem-" + k)).isDirectory();
        } finally {
            cluster.close();
        }

        assertThat(run("ip", "netns", "list")).doesNotContain("fm" + k + "n");
        assertThat(run("ip", "-br", "link")).doesNotContain("farmem" + k).doesNotContain("fm" + k + "v");
        assertThat(run("ip", "-4", "route")).doesNotContain("10." + k + ".");
        assertThat(run("iptables", "-w", "-S")).doesNotContain("FARMEM-" + k);
        assertThat(run("findmnt", "-rn", "-o", "TARGET")).doesNotContain(dir.toString());
        for (String controller : List.of("memory", "pids", "cpu", "freezer")) {
            assertThat(Path.of("/sys/fs/cgroup", controller, "farmem-" + k)).doesNotExist();
        }
        assertThat(ProcessHandle.allProcesses().map(p -> p.info().commandLine().orElse("")).filter(c -> c.contains(dir.toString())))
                .as("no process of the cluster is left").isEmpty();
        assertThat(dir).doesNotExist();
        assertThat(kernelSettings()).isEqualTo(before);
    }

    private static void runAPod(LocalCluster cluster) {
        Instant deadline = Instant.now().plus(Duration.ofSeconds(120));
        while (cluster.client().serviceAccounts().inNamespace("default").withName("default").get() == null
                || cluster.client().configMaps().inNamespace("default").withName("kube-root-ca.crt").get() == null) {
            sleep(deadline, "the default ServiceAccount");
        }
        Pod pod = new PodBuilder().withNewMetadata().withName("teardown").endMetadata().withNewSpec()
                .addNewContainer().withName("app").withImage(ClusterIT.PROBE_IMAGE).withArgs("probe-app", "--port", "8080")
                .withNewReadinessProbe().withNewHttpGet().withPath("/healthz").withNewPort(8080).endHttpGet().withPeriodSeconds(1).endReadinessProbe()
                .endContainer().endSpec().build();
        cluster.client().pods().inNamespace("default").resource(pod).create();
        while (!cluster.client().pods().inNamespace("default").withName("teardown").get().getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()))) {
            sleep(deadline, "the pod Ready");
        }
    }

    private static void sleep(Instant deadline, String what) {
        if (Instant.now().isAfter(deadline)) {
            throw new AssertionError("timed out waiting for " + what);
        }
        try {
            Thread.sleep(250);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    private static Map<String, String> kernelSettings() throws IOException {
        Map<String, String> values = new LinkedHashMap<>();
        for (String s : KERNEL_SETTINGS) {
            values.put(s, Files.readString(Path.of("/proc/sys", s), StandardCharsets.UTF_8).strip());
        }
        return values;
    }

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        p.waitFor();
        return out;
    }
}
