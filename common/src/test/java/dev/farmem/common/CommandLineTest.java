package dev.farmem.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CommandLineTest {

    private static final Set<String> OPTIONS = Set.of("cache-bytes", "metrics-address", "rounds");

    @Test
    void takesSeparateAndInlineValuesAndBareFlags() {
        CommandLine cl = new CommandLine(new String[] {"--cache-bytes", "256Mi", "--rounds=3", "--json"}, OPTIONS, Set.of("json"));
        assertThat(cl.bytes("cache-bytes", 1)).isEqualTo(256L << 20);
        assertThat(cl.integer("rounds", 1, 1, 10)).isEqualTo(3);
        assertThat(cl.flag("json")).isTrue();
        assertThat(cl.string("metrics-address", "0.0.0.0:9091")).isEqualTo("0.0.0.0:9091");
        assertThat(cl.has("metrics-address")).isFalse();
    }

    @Test
    void theCommandLineWinsOverTheEnvironmentAndAnEmptyVariableIsUnset() {
        Map<String, String> env = Map.of("FARMEM_CACHE_BYTES", "1Gi", "FARMEM_ROUNDS", "7", "FARMEM_METRICS_ADDRESS", "");
        CommandLine cl = new CommandLine(new String[] {"--rounds", "2"}, OPTIONS, Set.of(), env::get);
        assertThat(cl.bytes("cache-bytes", 1)).isEqualTo(1L << 30);
        assertThat(cl.integer("rounds", 1, 1, 10)).isEqualTo(2);
        assertThat(cl.value("metrics-address")).isNull();
        CommandLine none = new CommandLine(new String[] {"--metrics-address="}, OPTIONS, Set.of(), env::get);
        assertThat(none.value("metrics-address")).as("an empty value on the command line is a value").isEmpty();
        assertThat(CommandLine.environmentName("threads-per-client")).isEqualTo("FARMEM_THREADS_PER_CLIENT");
        CommandLine shm = new CommandLine(new String[0], Set.of("shm"), Set.of(), Map.of("FARMEM_SHM_DIR", "/dev/shm/x")::get);
        assertThat(shm.string("shm", "FARMEM_SHM_DIR", "/var/run/farmem/shm")).as("an option with a variable of its own").isEqualTo("/dev/shm/x");
    }

    @Test
    void badInputSaysWhatWasWrong() {
        assertThatThrownBy(() -> new CommandLine(new String[] {"--colour", "red"}, OPTIONS, Set.of()))
                .hasMessageContaining("unknown option '--colour'");
        assertThatThrownBy(() -> new CommandLine(new String[] {"red"}, OPTIONS, Set.of()))
                .hasMessageContaining("unexpected argument 'red'");
        assertThatThrownBy(() -> new CommandLine(new String[] {"--rounds"}, OPTIONS, Set.of()))
                .hasMessageContaining("option --rounds needs a value");
        assertThatThrownBy(() -> new CommandLine(new String[] {"--json=yes"}, OPTIONS, Set.of("json")))
                .as("a bare flag takes no value").hasMessageContaining("unknown option '--json=yes'");
        CommandLine cl = new CommandLine(new String[] {"--rounds", "many", "--cache-bytes", "lots"}, OPTIONS, Set.of());
        assertThatThrownBy(() -> cl.integer("rounds", 1, 1, 10)).hasMessageContaining("--rounds 'many' is not a whole number");
        assertThatThrownBy(() -> cl.bytes("cache-bytes", 1)).hasMessageContaining("--cache-bytes 'lots' is not a size");
        assertThatThrownBy(() -> new CommandLine(new String[] {"--rounds", "11"}, OPTIONS, Set.of()).integer("rounds", 1, 1, 10))
                .hasMessageContaining("--rounds 11 is not in 1..10");
        assertThatThrownBy(() -> cl.required("metrics-address"))
                .hasMessageContaining("--metrics-address is required (or set FARMEM_METRICS_ADDRESS)");
    }
}
