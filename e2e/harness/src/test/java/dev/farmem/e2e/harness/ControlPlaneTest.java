package dev.farmem.e2e.harness;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.DisabledIfSystemProperty;

@DisabledIfSystemProperty(named = ControlPlaneExtension.SKIP_PROPERTY, matches = "true",
        disabledReason = "needs the control-plane binaries (-Dfarmem.e2e.skip=true, ./farmem test --fast)")
class ControlPlaneTest {
    @Test
    void startsOnItsOwnBridgeServesItsVersionAndLeavesNothingBehindOnClose() throws Exception {
        Binaries binaries = Binaries.locate();
        ControlPlane cp = ControlPlane.start(binaries);
        Path dir = cp.directory();
        int port = cp.apiServerPort();
        int block = cp.network().block();
        List<ProcessHandle> children;
        try {
            assertThat(cp.client().getKubernetesVersion().getGitVersion()).isEqualTo(binaries.kubernetesVersion());
            assertThat(cp.client().services().inNamespace("default").withName("kubernetes").get().getSpec().getClusterIP())
                    .as("ClusterIPs are the cluster's own").startsWith("10." + block + ".22");
            assertThat(Files.readString(cp.kubeconfig())).contains("server: https://10." + block + ".0.1:" + port);
            assertThat(run("ip", "-br", "addr", "show", "farmem" + block)).contains("10." + block + ".0.1/24");
            children = ProcessHandle.current().children().filter(p -> p.info().command().orElse("").contains("farmem")).toList();
            assertThat(children).hasSizeGreaterThanOrEqualTo(4);
        } finally {
            cp.close();
        }
        assertThat(children).noneMatch(ProcessHandle::isAlive);
        assertThat(dir).doesNotExist();
        assertThat(run("ip", "-br", "link")).doesNotContain("farmem" + block);
        assertThat(run("ip", "-4", "route")).doesNotContain("10." + block + ".");
        assertThat(run("iptables", "-w", "-S", "FORWARD")).doesNotContain("FARMEM-" + block);
    }

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        p.waitFor();
        return out;
    }
}
