package dev.farmem.transport.rdma;

import dev.farmem.transport.rdma.disni.QpEndpoint;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * Runs a Java check in the RDMA guest (e2e/rdma-vm: QEMU, Debian's kernel, Soft-RoCE on 10.215.0.2, the host's
 * root shared read-only), with this JVM's class path, and returns its exit code and output. The caller is skipped,
 * with the reason, under -Dfarmem.e2e.skip=true (guest runs take tens of seconds under TCG), without root (the
 * script installs QEMU's packages) or where the guest cannot start.
 */
final class RdmaGuest {

    /** The guest's RoCE address. */
    static final String ADDRESS = "10.215.0.2";

    record Run(int exit, String output) {}

    private RdmaGuest() {}

    /** {@code InDisni className args...} in the guest: the class runs in DisniRuntime's loader, libdisni from the build. */
    static Run inDisni(String className, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED", "-Xmx512m", "-cp", System.getProperty("java.class.path"),
                InDisni.class.getName(), className));
        command.addAll(List.of(args));
        return run(command);
    }

    static Run run(List<String> command) throws IOException, InterruptedException {
        Assumptions.assumeFalse(Boolean.getBoolean("farmem.e2e.skip"), "guest tests are skipped (-Dfarmem.e2e.skip=true)");
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "e2e/rdma-vm installs its packages and boots QEMU as root");
        Path script = Path.of("..", "e2e", "rdma-vm").toAbsolutePath().normalize();
        Assumptions.assumeTrue(Files.isExecutable(script), "no " + script + " (the test runs in the transport module's directory)");
        Assumptions.assumeTrue(QpEndpoint.class.getClassLoader().getResource(DisniRuntime.RESOURCE) != null, "libdisni was not built on this machine");
        List<String> argv = new ArrayList<>(List.of(script.toString(), "--timeout", "400", "--"));
        argv.addAll(jvmCrashReportsToStdout(command));
        String crashed = null;
        for (int attempt = 1; attempt <= 2; attempt++) {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(450, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new AssertionError("e2e/rdma-vm did not finish; its output so far:\n" + out);
            }
            // 125: the guest did not run the command (QEMU or the kernel failed); the script printed why.
            Assumptions.assumeTrue(p.exitValue() != 125, () -> "the RDMA guest could not start here: " + out);
            if (!jvmCrashed(out)) {
                return new Run(p.exitValue(), out);
            }
            System.err.println("the guest's JVM crashed (attempt " + attempt + " of 2); its output:\n" + out);
            crashed = out;
        }
        String report = crashed;
        Assumptions.abort(() -> "the guest's JVM crashed twice (a SIGSEGV in JIT code it had just installed, seen with multi-threaded TCG; see the RDMA test bed in e2e/README.md); "
                + "the crash report is in the test output:\n" + report.lines().limit(12).reduce("", (x, y) -> x + y + "\n"));
        throw new AssertionError("unreachable");
    }

    /** A fatal error report of the guest's JVM, in its output (-XX:+ErrorFileToStdout). */
    static boolean jvmCrashed(String out) {
        return out.contains("A fatal error has been detected by the Java Runtime Environment");
    }

    /** The crash report goes to the guest's stdout: its file would stay in the guest's tmpfs and vanish with it. */
    static List<String> jvmCrashReportsToStdout(List<String> command) {
        List<String> c = new ArrayList<>(command);
        if (!c.isEmpty() && c.get(0).endsWith("/java")) {
            c.add(1, "-XX:+ErrorFileToStdout");
        }
        return c;
    }
}
