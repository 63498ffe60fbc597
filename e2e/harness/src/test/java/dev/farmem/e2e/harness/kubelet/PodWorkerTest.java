package dev.farmem.e2e.harness.kubelet;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class PodWorkerTest {
    private final Map<String, String> mounts = new LinkedHashMap<>(Map.of(
            "/etc/farmem", "/pods/u1/volumes/config",
            "/etc/farmem/binding", "/pods/u1/volumes/binding",
            "/var/run/secrets/kubernetes.io/serviceaccount", "/pods/u1/volumes/sa"));

    @Test
    void aMountPathInAnArgumentBecomesTheVolumesLocalDirectory() {
        assertThat(PodWorker.rewrite("--config=/etc/farmem/agent.yaml", mounts)).isEqualTo("--config=/pods/u1/volumes/config/agent.yaml");
        assertThat(PodWorker.rewrite("/etc/farmem", mounts)).isEqualTo("/pods/u1/volumes/config");
    }

    @Test
    void theLongestMountPathWins() {
        assertThat(PodWorker.rewrite("/etc/farmem/binding/binding.json", mounts)).isEqualTo("/pods/u1/volumes/binding/binding.json");
    }

    @Test
    void aPathThatOnlySharesAPrefixIsLeftAlone() {
        assertThat(PodWorker.rewrite("/etc/farmemx/a", mounts)).isEqualTo("/etc/farmemx/a");
        assertThat(PodWorker.rewrite("/opt/etc/farmem/a", mounts)).isEqualTo("/opt/etc/farmem/a");
    }

    @Test
    void aRewrittenPathIsNotRewrittenAgainByAnotherMount() {
        Map<String, String> withTmp = new LinkedHashMap<>(Map.of(
                "/tmp", "/tmp/farmem-kubelet/u1/volumes/scratch",
                "/etc/farmem/pool", "/tmp/farmem-kubelet/u1/volumes/pool-key"));
        assertThat(PodWorker.rewrite("--key-file=/etc/farmem/pool/token.key", withTmp))
                .isEqualTo("--key-file=/tmp/farmem-kubelet/u1/volumes/pool-key/token.key");
        assertThat(PodWorker.rewrite("/tmp/x /etc/farmem/pool", withTmp))
                .isEqualTo("/tmp/farmem-kubelet/u1/volumes/scratch/x /tmp/farmem-kubelet/u1/volumes/pool-key");
    }
}
