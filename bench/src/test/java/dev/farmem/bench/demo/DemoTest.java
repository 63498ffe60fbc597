package dev.farmem.bench.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import dev.farmem.transport.rdma.RdmaSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

class DemoTest {

    @Test
    void badOptionsSayWhatWasWrong() {
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--workload", "random"}))
                .hasMessageContaining("unknown workload 'random'").hasMessageContaining("sparse-write");
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--cache", "12 parsecs"})).hasMessageContaining("is not a size");
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--agents", "0"})).hasMessageContaining("--agents 0 is not in 1..16");
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--tracking", "word"})).hasMessageContaining("line, page, both");
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--seconds"})).hasMessageContaining("needs a value");
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--fast"})).hasMessageContaining("unknown option '--fast'");
    }

    @Test
    void defaultsRunSparseWritesOnAFarMemoryFourTimesTheCache() {
        Demo.Settings s = Demo.Settings.parse(new String[0]);
        assertThat(s.size()).isEqualTo(4 * s.cache());
        assertThat(s.trackings()).containsExactly(64, 4096);
        assertThat(s.workload().id()).isEqualTo("sparse-write");
    }

    @Test
    void rdmaNeedsNoEmulatedLinkAndOutsideAnRdmaHostSaysWhyBeforeStartingAnything() {
        Demo.Settings tcp = Demo.Settings.parse(new String[0]);
        assertThat(tcp.linkMbps()).isEqualTo(Demo.DEFAULT_LINK_MBPS);
        assertThat(tcp.rdmaAddress()).isNull();
        Demo.Settings rdma = Demo.Settings.parse(new String[] {"--transport", "rdma", "--address", "192.0.2.7"});
        assertThat(rdma.linkMbps()).isZero();
        assertThat(rdma.rdmaAddress()).isEqualTo("192.0.2.7");
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--transport", "rdma", "--link-mbps", "1000"}))
                .hasMessageContaining("emulates a link over TCP");
        assertThatThrownBy(() -> Demo.Settings.parse(new String[] {"--transport", "udp"})).hasMessageContaining("is not tcp or rdma");
        Assumptions.assumeFalse(RdmaSupport.probe().available(), "this host has RDMA");
        assertThatThrownBy(() -> Demo.run(rdma)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("--transport rdma cannot run here").hasMessageContaining(RdmaSupport.probe().reason());
    }

    @Test
    void jsonModePrintsOneObjectPerRunWithTheContractKeys() throws Exception {
        Demo.Settings s = Demo.Settings.parse(new String[] {"--agents", "2", "--size", "4MiB", "--cache", "1MiB", "--seconds", "1",
                "--threads", "1", "--json"});
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            Demo.run(s);
        } finally {
            System.setOut(old);
        }
        List<String> lines = out.toString(StandardCharsets.UTF_8).lines().toList();
        assertThat(lines).hasSize(2);
        ObjectMapper json = new ObjectMapper();
        JsonNode line = json.readTree(lines.get(0));
        JsonNode page = json.readTree(lines.get(1));
        for (JsonNode run : List.of(line, page)) {
            assertThat(run.fieldNames()).toIterable().contains("workload", "tracking", "ops_per_sec", "hit_ratio", "bytes_fetched",
                    "bytes_written_back", "lines_written_back", "writeback_vs_line_ideal");
            assertThat(run.get("workload").asText()).isEqualTo("sparse-write");
            assertThat(run.get("ops_per_sec").asDouble()).isPositive();
            assertThat(run.get("bytes_written_back").asLong()).isPositive();
        }
        assertThat(line.get("tracking").asText()).isEqualTo("line");
        assertThat(page.get("tracking").asText()).isEqualTo("page");
        assertThat(line.get("writeback_vs_line_ideal").asDouble()).isBetween(1.0, 1.05);
        // sparse writes touch 1-8 lines of a block: page tracking sends whole blocks
        assertThat(page.get("writeback_vs_line_ideal").asDouble()).isGreaterThan(4.0);
    }

    @Test
    void theTableSaysWhatTheComparisonMeans() {
        var line = new dev.farmem.bench.workload.RunResult("sparse-write", "line", 1 << 20, 1 << 18, 1, 1000, 1, 1000, 0.5, 4096, 6400,
                100, 6400, 1.0, 10, 1000, 5000);
        var page = new dev.farmem.bench.workload.RunResult("sparse-write", "page", 1 << 20, 1 << 18, 1, 500, 1, 500, 0.5, 4096, 204800,
                3200, 6400, 32.0, 10, 1000, 5000);
        String table = Demo.table(List.of(line, page));
        assertThat(table).contains("line (64 B)", "page (4 KiB)", "1.00x", "32.00x");
        assertThat(table).contains("64.0x fewer bytes").contains("2.00x its operations per second");
    }
}
