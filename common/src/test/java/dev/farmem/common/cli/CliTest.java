package dev.farmem.common.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

class CliTest {

    @Command(name = "./farmem example", description = "An example command.")
    static final class Example {
        @Option(names = "--cache-bytes", converter = Converters.Bytes.class, defaultValue = "64MiB", description = "local cache")
        long cacheBytes;
        @Option(names = "--rounds", defaultValue = "1", description = "rounds to run")
        int rounds;
        @Option(names = "--metrics-address", defaultValue = "0.0.0.0:9091", description = "/metrics address; --metrics-address= for none")
        String metricsAddress;
        @Option(names = "--shm", defaultValue = "/var/run/farmem/shm", description = "shared-memory directory")
        String shm;
        @Option(names = "--timeout", converter = Converters.Durations.class, defaultValue = "10s", description = "how long to wait")
        Duration timeout;
        @Option(names = "--capacity", converter = Converters.Bytes.class, description = "bytes donated (required)")
        Long capacity;
        @Option(names = "--json", description = "print JSON")
        boolean json;
    }

    static Cli<Example> cli(Map<String, String> env) {
        return Cli.of(new Example(), EnvironmentDefaults.everyOption(env).renamed("--shm", "FARMEM_SHM_DIR"));
    }

    @Test
    void takesSeparateAndInlineValuesBareFlagsAndDefaults() {
        Example e = cli(Map.of()).read("--cache-bytes", "256Mi", "--rounds=3", "--json", "--timeout", "500ms");
        assertThat(e.cacheBytes).isEqualTo(256L << 20);
        assertThat(e.rounds).isEqualTo(3);
        assertThat(e.json).isTrue();
        assertThat(e.timeout).isEqualTo(Duration.ofMillis(500));
        assertThat(e.metricsAddress).isEqualTo("0.0.0.0:9091");
        assertThat(e.capacity).as("an option without a default that was not given").isNull();
        assertThat(cli(Map.of()).read("--rounds", "2", "--rounds", "5").rounds).as("the last of an option given twice").isEqualTo(5);
        assertThat(cli(Map.of()).read("--shm", "@dir").shm).as("no @file expansion").isEqualTo("@dir");
    }

    @Test
    void anOptionNotGivenComesFromItsFarmemVariableAndTheCommandLineWins() {
        Map<String, String> env = Map.of("FARMEM_CACHE_BYTES", "1Gi", "FARMEM_ROUNDS", "7", "FARMEM_METRICS_ADDRESS", "", "FARMEM_SHM_DIR", "/dev/shm/x",
                "FARMEM_SHM", "/not/this");
        Example e = cli(env).read("--rounds", "2");
        assertThat(e.cacheBytes).isEqualTo(1L << 30);
        assertThat(e.rounds).isEqualTo(2);
        assertThat(e.metricsAddress).as("an empty variable is unset").isEqualTo("0.0.0.0:9091");
        assertThat(e.shm).as("an option with a variable of its own").isEqualTo("/dev/shm/x");
        assertThat(cli(env).read("--metrics-address=").metricsAddress).as("an empty value on the command line is a value").isEmpty();
        assertThat(EnvironmentDefaults.derivedName("--threads-per-client")).isEqualTo("FARMEM_THREADS_PER_CLIENT");
    }

    @Test
    void onlyTheNamedOptionsReadTheEnvironmentWhenSoConfigured() {
        Map<String, String> env = Map.of("FARMEM_ROUNDS", "7", "FARMEM_SHM_DIR", "/dev/shm/x");
        Example e = Cli.of(new Example(), EnvironmentDefaults.only(env, Map.of("--shm", "FARMEM_SHM_DIR"))).read();
        assertThat(e.shm).isEqualTo("/dev/shm/x");
        assertThat(e.rounds).isEqualTo(1);
        assertThat(Cli.of(new Example(), EnvironmentDefaults.NONE).read().shm).isEqualTo("/var/run/farmem/shm");
    }

    @Test
    void anUnknownFlagIsNamedWithTheNearestKnownOne() {
        assertThatThrownBy(() -> cli(Map.of()).parse("--colour", "red")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("unknown option '--colour'").hasMessageEndingWith(": see --help");
        assertThatThrownBy(() -> cli(Map.of()).parse("--round", "2")).hasMessageContaining("unknown option '--round' (did you mean --rounds");
        assertThatThrownBy(() -> cli(Map.of()).parse("red")).hasMessage("unexpected argument 'red': options start with --, see --help");
        assertThatThrownBy(() -> cli(Map.of()).parse("--rounds")).hasMessage("option --rounds needs a value");
        assertThatThrownBy(() -> cli(Map.of()).parse("--rounds", "--json")).hasMessage("option --rounds needs a value");
    }

    @Test
    void aBadValueSaysWhichOptionAndWhatItShouldBe() {
        assertThatThrownBy(() -> cli(Map.of()).parse("--rounds", "many")).hasMessage("--rounds 'many' is not a whole number");
        assertThatThrownBy(() -> cli(Map.of()).parse("--cache-bytes", "lots")).hasMessageStartingWith("--cache-bytes 'lots' is not a size: write a whole number");
        assertThatThrownBy(() -> cli(Map.of()).parse("--timeout", "soon")).hasMessageStartingWith("--timeout 'soon' is not a duration: write e.g. 500ms");
        assertThatThrownBy(() -> cli(Map.of("FARMEM_CACHE_BYTES", "lots")).parse()).as("a bad variable is named")
                .hasMessageStartingWith("--cache-bytes 'lots' is not a size").hasMessageEndingWith("(the value of FARMEM_CACHE_BYTES)");
        assertThatThrownBy(() -> Cli.inRange("--rounds", 11, 1, 10)).hasMessage("--rounds 11 is not in 1..10");
        assertThatThrownBy(() -> Cli.inRange("--rounds", 0L, 1, Long.MAX_VALUE)).hasMessage("--rounds 0 must be at least 1");
        Cli<Example> c = cli(Map.of());
        c.parse();
        assertThatThrownBy(() -> c.required("--capacity", c.command().capacity))
                .hasMessage("--capacity is required (or set FARMEM_CAPACITY); see --help");
    }

    @Test
    void helpIsOnEveryCommandAndNamesEachOptionsVariableAndDefault() {
        Cli<Example> c = cli(Map.of());
        assertThat(c.parse("--help")).as("--help: print the usage, check nothing else").isFalse();
        assertThat(cli(Map.of()).parse("-h", "--rounds", "many")).isFalse();
        assertThat(c.usage()).endsWith("show this help and exit\n");
        String usage = c.usage().replaceAll("\\s+", " "); // as read, not as wrapped
        assertThat(usage).contains("./farmem example", "An example command.", "--help", "show this help and exit")
                .contains("--cache-bytes", "(env FARMEM_CACHE_BYTES, default 64MiB)")
                .contains("(env FARMEM_SHM_DIR, default /var/run/farmem/shm)")
                .contains("(env FARMEM_CAPACITY)")
                .doesNotContain("FARMEM_HELP");
        assertThat(Cli.of(new Example(), EnvironmentDefaults.NONE).usage()).contains("(default 64MiB)").doesNotContain("FARMEM_");
    }
}
