package dev.farmem.bench.sweep;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.bench.workload.Workload;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.EnvironmentDefaults;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class SweepFlagsTest {

    private static SweepBench.Flags read(String... args) {
        return Cli.of(new SweepBench.Flags(), EnvironmentDefaults.NONE).read(args).checked();
    }

    @Test
    void theDefaultsSweepZipfFromATenthToAllOfItIntoTargetSweep() {
        SweepBench.Flags f = read();
        assertThat(f.workloadChosen).isEqualTo(Workload.ZIPF);
        assertThat(f.percentList).containsExactly(10, 20, 30, 40, 50, 60, 70, 80, 90, 100);
        assertThat(f.size).isEqualTo(64L << 20);
        assertThat(f.seconds).isEqualTo(1.5);
        assertThat(f.linkMbps).isEqualTo(1000);
        assertThat(f.out).isEqualTo(Path.of("target/sweep").toAbsolutePath());
        SweepBench.Flags g = read("--workload", "sparse-write", "--percents", "25, 100", "--seconds", "0.5", "--out", "/tmp/plots");
        assertThat(g.workloadChosen).isEqualTo(Workload.SPARSE_WRITE);
        assertThat(g.percentList).containsExactly(25, 100);
        assertThat(g.out).isEqualTo(Path.of("/tmp/plots"));
    }

    @Test
    void badValuesSayWhatIsWrong() {
        assertThatThrownBy(() -> read("--percents", "10,0")).hasMessage("--percents entry 0 is not in 1..100");
        assertThatThrownBy(() -> read("--percents", "ten")).hasMessage("--percents entry 'ten' is not a whole percentage");
        assertThatThrownBy(() -> read("--workload", "ycsb")).hasMessageContaining("unknown workload 'ycsb'");
        assertThatThrownBy(() -> read("--seconds", "0")).hasMessageContaining("--seconds 0.0 is not in 0.1..600");
    }
}
