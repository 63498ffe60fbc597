package dev.farmem.client.sidecar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SidecarFlagsTest {

    @Test
    void theInjectedContainersVariablesSetTheFlagsAndFlagsWin() {
        Map<String, String> env = Map.of("FARMEM_SHM_DIR", "/dev/shm/app", "FARMEM_CACHE_BYTES", "256Mi", "FARMEM_METRICS_ADDRESS", "10.0.0.7:9091",
                "FARMEM_MAX_CLIENTS", "4");
        SidecarMain.Flags f = SidecarMain.cli(env).read("--max-clients", "8");
        assertThat(f.shm).as("--shm reads FARMEM_SHM_DIR, the variable applications read too").isEqualTo(Path.of("/dev/shm/app"));
        assertThat(f.cacheBytes).isEqualTo(256L << 20);
        assertThat(f.metricsAddress).isEqualTo("10.0.0.7:9091");
        assertThat(f.maxClients).isEqualTo(8);
        SidecarMain.Flags defaults = SidecarMain.cli(Map.of()).read();
        assertThat(defaults.binding).isEqualTo(Path.of("/var/run/farmem/binding"));
        assertThat(defaults.pollMicros).isEqualTo(SidecarOptions.DEFAULT_POLL_MICROS);
        assertThat(SidecarMain.cli(Map.of()).read("--metrics-address=").metricsAddress).as("no metrics server").isEmpty();
    }

    @Test
    void badFlagsAndHelp() {
        assertThatThrownBy(() -> SidecarMain.cli(Map.of()).parse("--cache", "1Gi")).hasMessageContaining("unknown option '--cache'");
        assertThatThrownBy(() -> SidecarMain.cli(Map.of("FARMEM_PREFETCH_DEPTH", "deep")).parse())
                .hasMessage("--prefetch-depth 'deep' is not a whole number (the value of FARMEM_PREFETCH_DEPTH)");
        assertThat(SidecarMain.cli(Map.of()).parse("--help")).isFalse();
        assertThat(SidecarMain.cli(Map.of()).usage().replaceAll("\\s+", " ")) // as read, not as wrapped
                .contains("--shm=DIR", "env FARMEM_SHM_DIR", "--sidecar-timeout-ms=N", "env FARMEM_SIDECAR_TIMEOUT_MS, default 5000");
    }
}
