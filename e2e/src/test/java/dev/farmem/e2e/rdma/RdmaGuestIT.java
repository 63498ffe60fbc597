package dev.farmem.e2e.rdma;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.e2e.harness.ControlPlaneExtension;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The RDMA test bed (e2e/rdma-vm): a QEMU guest on Debian's kernel whose Soft-RoCE device carries real RDMA verbs,
 * with the host's userspace shared in. These tests prove the bed itself: the device is active, a one-sided RDMA
 * READ crosses it (perftest, the figures' floor), and a command's output and exit code come back. Skipped, saying
 * why, under -Dfarmem.e2e.skip=true, without root, or where the guest cannot start.
 */
class RdmaGuestIT {
    private static final Path SCRIPT = Path.of("rdma-vm").toAbsolutePath();

    record Run(int exit, String output) {}

    @BeforeAll
    static void guestCanRun() throws Exception {
        Assumptions.assumeFalse(Boolean.getBoolean(ControlPlaneExtension.SKIP_PROPERTY), "end-to-end tests are skipped (-Dfarmem.e2e.skip=true)");
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "e2e/rdma-vm installs its packages and boots QEMU as root");
        assertThat(SCRIPT).as("the test runs in the e2e module's directory").isExecutable();
    }

    @Test
    void theGuestHasAnActiveSoftRoceDevice() throws Exception {
        Run run = guest("ibv_devinfo", "-d", "rxe0");
        assertThat(run.exit()).as(run.output()).isZero();
        assertThat(run.output()).contains("hca_id:\trxe0").contains("PORT_ACTIVE").contains("link_layer:\t\tEthernet");
    }

    @Test
    void aOneSidedRdmaReadOf4KiBCrossesSoftRoce() throws Exception {
        // perftest's server and client on the guest's one RoCE address: 200 RDMA READs of 4 KiB at queue depth 1.
        Run run = guest("sh", "-c", "ib_read_lat -d rxe0 -x 1 -s 4096 -n 200 >/dev/null 2>&1 & sleep 2; "
                + "ib_read_lat -d rxe0 -x 1 -s 4096 -n 200 10.215.0.2; rc=$?; wait; exit $rc");
        assertThat(run.exit()).as(run.output()).isZero();
        assertThat(run.output()).containsPattern("(?m)^\\s*4096\\s+200\\s+\\d+\\.\\d+");
    }

    @Test
    void theCommandsOutputAndExitCodeComeBackAndTheHostStaysUntouched() throws Exception {
        Path marker = Files.createTempFile("farmem-rdma-vm", ".txt");
        try {
            Run run = guest("sh", "-c", "echo 'two words'; echo changed > " + marker + "; exit 7");
            assertThat(run.exit()).isEqualTo(7);
            assertThat(run.output()).contains("two words");
            assertThat(Files.readString(marker)).as("the guest writes to an overlay, never to the host").isEmpty();
        } finally {
            Files.deleteIfExists(marker);
        }
    }

    private static Run guest(String... command) throws IOException, InterruptedException {
        List<String> argv = new ArrayList<>(List.of(SCRIPT.toString(), "--timeout", "300", "--"));
        argv.addAll(List.of(command));
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(400, TimeUnit.SECONDS)).as("e2e/rdma-vm finished").isTrue();
        // 125: the guest did not run the command (QEMU or the kernel failed); the script printed why.
        Assumptions.assumeTrue(p.exitValue() != 125, () -> "the RDMA guest could not start here: " + out);
        return new Run(p.exitValue(), out);
    }
}
