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
    void startsOnLoopbackServesItsVersionAndLeavesNothingBehindOnClose() throws Exception {
        Binaries binaries = Binaries.locate();
        ControlPlane cp = ControlPlane.start(binaries);
        Path dir = cp.directory();
        int port = cp.apiServerPort();
        List<ProcessHandle> children;
        try {
            assertThat(cp.client().getKubernetesVersion().getGitVersion()).isEqualTo(binaries.kubernetesVersion());
            assertThat(cp.client().services().inNamespace("default").withName("kubernetes").get().getSpec().getClusterIP())
                    .as("ClusterIPs are loopback addresses").startsWith("127.");
            assertThat(Files.readString(cp.kubeconfig())).contains("server: https://127.0.0.1:" + port);
            children = ProcessHandle.current().children().filter(p -> p.info().command().orElse("").contains("farmem")).toList();
            assertThat(children).hasSizeGreaterThanOrEqualTo(4);
        } finally {
            cp.close();
        }
        assertThat(children).noneMatch(ProcessHandle::isAlive);
        assertThat(ControlPlane.listening(port)).isFalse();
        assertThat(dir).doesNotExist();
    }
}
