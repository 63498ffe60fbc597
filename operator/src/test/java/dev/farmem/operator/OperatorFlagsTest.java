package dev.farmem.operator;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.EnvironmentDefaults;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OperatorFlagsTest {

    static Cli<OperatorMain.Flags> cli(Map<String, String> env) {
        return Cli.of(new OperatorMain.Flags(), EnvironmentDefaults.everyOption(env));
    }

    @Test
    void theChartsVariablesSetTheFlags() {
        Map<String, String> env = Map.of("FARMEM_NAMESPACE", "farmem", "FARMEM_LEADER_ELECTION", "false", "HOSTNAME", "operator-0");
        OperatorMain.Settings s = cli(env).read("--metrics", "127.0.0.1:0").settings(env);
        assertThat(s.namespace()).isEqualTo("farmem");
        assertThat(s.leaderElection()).isFalse();
        assertThat(s.metrics().getPort()).isZero();
        assertThat(s.agentServiceAccount()).isEqualTo("farmem-agent");
        assertThat(s.identity()).startsWith("operator-0-");
        assertThat(cli(Map.of()).read().leaderElection).isTrue();
    }

    @Test
    void badFlagsSayWhatWasWrong() {
        assertThatThrownBy(() -> cli(Map.of()).parse("--leader-election", "maybe")).hasMessageStartingWith("--leader-election 'maybe'");
        assertThatThrownBy(() -> cli(Map.of()).read("--metrics", "8080").settings(Map.of())).hasMessageContaining("is not HOST:PORT");
        assertThat(cli(Map.of()).usage().replaceAll("\\s+", " ")).contains("--agent-service-account=NAME", "env FARMEM_AGENT_SERVICE_ACCOUNT, default farmem-agent");
    }
}
