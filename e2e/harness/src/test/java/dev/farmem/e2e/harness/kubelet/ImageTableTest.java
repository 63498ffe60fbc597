package dev.farmem.e2e.harness.kubelet;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class ImageTableTest {
    private final Path repo = Path.of("/repo");
    private final ImageTable table = ImageTable.load(repo);

    @Test
    void anImageRunsTheJarNamedByItsRepositorysLastSegmentWhateverItsRegistryOrTag() {
        assertThat(table.resolve("ghcr.io/acme/farmem-agent:0.1.0").orElseThrow().jar())
                .isEqualTo(repo.resolve("memnode-agent/target/farmem-agent.jar"));
        assertThat(table.resolve("localhost:5000/farmem-operator").orElseThrow().jar())
                .isEqualTo(repo.resolve("operator/target/farmem-operator.jar"));
        assertThat(table.resolve("farmem-sidecar@sha256:0123abcd").orElseThrow().jar())
                .isEqualTo(repo.resolve("client-runtime/target/farmem-sidecar.jar"));
    }

    @Test
    void theDemoImageStartsTheBenchJarWithItsAppCommand() {
        ImageTable.Entry demo = table.resolve("farmem-demo:dev").orElseThrow();
        assertThat(demo.jar()).isEqualTo(repo.resolve("bench/target/farmem-bench.jar"));
        assertThat(demo.entryArgs()).isEqualTo(List.of("app"));
    }

    @Test
    void anImageOutsideTheTableIsNotResolved() {
        assertThat(table.resolve("nginx:1.27")).isEmpty();
        assertThat(table.resolve("ghcr.io/acme/farmem-agent-debug:1")).isEmpty();
        assertThat(table.knownImages()).contains("farmem-agent", "farmem-demo");
    }
}
