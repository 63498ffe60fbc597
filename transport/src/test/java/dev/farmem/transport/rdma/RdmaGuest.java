package dev.farmem.transport.rdma;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.transport.rdma.disni.QpEndpoint;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;

/**
 * The one runner of the RDMA guest tests (e2e/rdma-vm: QEMU, Debian's kernel, Soft-RoCE on 10.215.0.2, the host's root
 * shared read-only): runs a command there with this JVM's class path and returns its exit code and output; other
 * modules use it through the transport's test jar. The caller is skipped, with the reason, under
 * -Dfarmem.e2e.skip=true (guest runs take minutes under TCG), without root (the script installs QEMU's packages),
 * where libdisni was not built, or where the guest cannot start; a guest JVM that crashes is run once more.
 */
public final class RdmaGuest {

    /** The guest's RoCE address. */
    public static final String ADDRESS = "10.215.0.2";

    private static final Pattern LINE = Pattern.compile("(?m)^GUEST-TEST (SUCCESSFUL|FAILED|ABORTED|SKIPPED) ([^:\\n]+?)(?:: (.*))?$");

    public record Run(int exit, String output) {}

    private RdmaGuest() {}

    /** {@code InDisni className args...} in the guest: the class runs in DisniRuntime's loader, libdisni from the build. */
    static Run inDisni(String className, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(java(), "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED", "-Xmx512m",
                "-cp", System.getProperty("java.class.path"), InDisni.class.getName(), className));
        command.addAll(List.of(args));
        return run(command, 400);
    }

    /**
     * Runs {@code testClasses} with {@link GuestJUnit} in one guest boot and returns one test per {@code @Test} method
     * of theirs (inherited ones too), which passes when it passed in the guest: how a module's guest suite reports each
     * guest test as a test of its own.
     */
    public static Stream<DynamicTest> junit(int timeoutSeconds, Class<?>... testClasses) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(java(), "--add-exports", "java.base/sun.nio.ch=ALL-UNNAMED",
                "-Xmx768m", "-XX:MaxDirectMemorySize=512m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                "-cp", System.getProperty("java.class.path"), GuestJUnit.class.getName()));
        for (Class<?> c : testClasses) command.add(c.getName());
        String out = run(command, timeoutSeconds).output();
        List<DynamicTest> tests = new ArrayList<>();
        for (Class<?> c : testClasses) {
            for (Class<?> k = c; k != null && k != Object.class; k = k.getSuperclass()) {
                for (Method m : k.getDeclaredMethods()) {
                    if (m.isAnnotationPresent(Test.class)) tests.add(DynamicTest.dynamicTest(m.getName(), () -> assertPassed(out, m.getName() + "()")));
                }
            }
        }
        return tests.stream();
    }

    private static void assertPassed(String out, String name) {
        Matcher line = LINE.matcher(out);
        String status = null;
        String why = null;
        while (line.find()) {
            if (line.group(2).equals(name)) {
                status = line.group(1);
                why = line.group(3);
            }
        }
        assertThat(status).as("the guest ran %s; its output:%n%s", name, out).isNotNull();
        assertThat(status).as("%s in the guest: %s", name, why).isEqualTo("SUCCESSFUL");
    }

    /** Runs {@code command} in the guest, which gets {@code timeoutSeconds} (the host waits a minute more). */
    public static Run run(List<String> command, int timeoutSeconds) throws IOException, InterruptedException {
        Assumptions.assumeFalse(Boolean.getBoolean("farmem.e2e.skip"), "guest tests are skipped (-Dfarmem.e2e.skip=true)");
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "e2e/rdma-vm installs its packages and boots QEMU as root");
        Path script = Path.of("..", "e2e", "rdma-vm").toAbsolutePath().normalize();
        Assumptions.assumeTrue(Files.isExecutable(script), "no " + script + " (the test runs in its module's directory)");
        Assumptions.assumeTrue(QpEndpoint.class.getClassLoader().getResource(DisniRuntime.RESOURCE) != null, "libdisni was not built on this machine");
        List<String> argv = new ArrayList<>(List.of(script.toString(), "--timeout", Integer.toString(timeoutSeconds), "--"));
        argv.addAll(jvmCrashReportsToStdout(command));
        String crashed = null;
        for (int attempt = 1; attempt <= 2; attempt++) {
            Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(timeoutSeconds + 60L, TimeUnit.SECONDS)) {
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

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
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
