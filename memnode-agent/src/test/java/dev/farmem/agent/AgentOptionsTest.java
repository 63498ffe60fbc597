package dev.farmem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AgentOptionsTest {

    @TempDir
    Path dir;

    Path key() throws Exception {
        return Files.write(dir.resolve("pool.key"), new byte[32]);
    }

    @Test
    void environmentSetsEveryFlagAndFlagsWin() throws Exception {
        Map<String, String> env = Map.of("FARMEM_CAPACITY", "64MiB", "FARMEM_KEY_FILE", key().toString(), "FARMEM_NODE_NAME", "from-env",
                "FARMEM_POOL", "rack1", "FARMEM_SLAB_SIZE", "16MiB", "FARMEM_LISTEN", "127.0.0.1:7071");
        AgentOptions o = AgentOptions.parse(new String[] {"--node-name", "from-flag", "--drain-timeout=500ms"}, env);
        assertThat(o.settings().node()).isEqualTo("from-flag");
        assertThat(o.settings().pool()).isEqualTo("rack1");
        assertThat(o.settings().capacity()).isEqualTo(64L << 20);
        assertThat(o.settings().slabSize()).isEqualTo(16L << 20);
        assertThat(o.settings().listen().getPort()).isEqualTo(7071);
        assertThat(o.advertise().toString()).isEqualTo("127.0.0.1:7071");
        assertThat(o.drainTimeout()).isEqualTo(Duration.ofMillis(500));
        assertThat(o.registration()).isEqualTo("auto");
    }

    @Test
    void missingOrWrongValuesSayWhatToDo() throws Exception {
        String k = key().toString();
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--key-file", k}, Map.of()))
                .hasMessageContaining("--capacity is required (or set FARMEM_CAPACITY)");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "1GiB", "--key-file", k, "--slab-size", "48MiB"}, Map.of()))
                .hasMessageContaining("not a positive multiple of --slab-size");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "1GiB", "--key-file", k, "--colour", "red"}, Map.of()))
                .hasMessageContaining("unknown option '--colour'");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "1GiB", "--key-file", k, "--listen", "nowhere"}, Map.of()))
                .hasMessageContaining("--listen");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "1GiB", "--key-file", dir.resolve("none").toString()}, Map.of()))
                .hasMessageContaining("does not exist");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity"}, Map.of())).hasMessageContaining("needs a value");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "1GiB", "--key-file", k}, Map.of("FARMEM_TRANSPORT", "rdma")))
                .hasMessageContaining("--transport rdma").hasMessageContaining("use --transport tcp");
    }

    @Test
    void connectionLimitsHaveDefaultsAndFlags() throws Exception {
        String k = key().toString();
        AgentOptions defaults = AgentOptions.parse(new String[] {"--capacity", "64MiB", "--key-file", k}, Map.of());
        assertThat(defaults.settings().limits()).isEqualTo(dev.farmem.agent.server.ConnectionLimits.DEFAULT);
        AgentOptions o = AgentOptions.parse(new String[] {"--capacity", "64MiB", "--key-file", k, "--max-queued", "1MiB",
                "--max-unauthenticated", "8", "--hello-timeout", "2s", "--partial-frame-timeout=750ms"}, Map.of());
        assertThat(o.settings().limits()).isEqualTo(new dev.farmem.agent.server.ConnectionLimits(1 << 20, 8, Duration.ofSeconds(2),
                Duration.ofMillis(750)));
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "64MiB", "--key-file", k, "--max-queued", "4KiB"}, Map.of()))
                .hasMessageContaining("--max-queued 4KiB must be between 128KiB and 1GiB");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "64MiB", "--key-file", k, "--partial-frame-timeout", "0s"}, Map.of()))
                .hasMessageContaining("--partial-frame-timeout must be longer than zero");
        assertThatThrownBy(() -> AgentOptions.parse(new String[] {"--capacity", "64MiB", "--key-file", k, "--max-unauthenticated", "0"}, Map.of()))
                .hasMessageContaining("--max-unauthenticated '0' must be a whole number of at least 1");
    }

    @Test
    void helpNamesEveryFlagAndItsVariable() {
        String help = AgentOptions.help();
        for (String flag : new String[] {"listen", "metrics", "capacity", "slab-size", "key-file", "pool", "node-name", "max-queued",
                "max-unauthenticated", "hello-timeout", "partial-frame-timeout"}) {
            assertThat(help).contains("--" + flag).contains("FARMEM_" + flag.toUpperCase().replace('-', '_'));
        }
    }
}
