package dev.farmem.bench.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * {@code ./farmem demo --transport rdma} for real, in the e2e/rdma-vm guest (Soft-RoCE): the embedded pool's agents
 * serve RDMA, the demo's far memories use it, and its closing check reads every written byte back from the agents.
 * Skipped, saying why, under -Dfarmem.e2e.skip=true (a guest run takes minutes under TCG), without root, or where the
 * guest cannot start.
 */
class DemoRdmaGuestTest {

    @Test
    void aShortDemoOverRdmaFinishesAndReadsEveryWriteBack() throws IOException, InterruptedException {
        Assumptions.assumeFalse(Boolean.getBoolean("farmem.e2e.skip"), "guest tests are skipped (-Dfarmem.e2e.skip=true)");
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "e2e/rdma-vm installs its packages and boots QEMU as root");
        Path script = Path.of("..", "e2e", "rdma-vm").toAbsolutePath().normalize();
        Assumptions.assumeTrue(Files.isExecutable(script), "no " + script + " (the test runs in the bench module's directory)");
        List<String> argv = List.of(script.toString(), "--timeout", "600", "--",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:+ErrorFileToStdout",
                "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED", "-Xmx768m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", System.getProperty("java.class.path"), Demo.class.getName(),
                "--transport", "rdma", "--agents", "2", "--size", "8MiB", "--cache", "2MiB", "--seconds", "1", "--threads", "1");
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(660, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("e2e/rdma-vm did not finish; its output so far:\n" + out);
        }
        // 125: the guest did not run the command (QEMU or the kernel failed); the script printed why.
        Assumptions.assumeTrue(p.exitValue() != 125, () -> "the RDMA guest could not start here: " + out);
        Assumptions.assumeFalse(out.contains("A fatal error has been detected by the Java Runtime Environment"),
                () -> "the guest's JVM crashed (a SIGSEGV seen under TCG emulation, cause not found yet):\n" + out);
        assertThat(p.exitValue()).as("the demo in the guest; its output:%n%s", out).isZero();
        assertThat(out).contains("serving RDMA on 10.215.0.2", "network: RDMA", "line (64 B)", "page (4 KiB)")
                .contains("read back by a fresh one from the agents over rdma: all equal");
    }
}
