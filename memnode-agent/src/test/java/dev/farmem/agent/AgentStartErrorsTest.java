package dev.farmem.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.common.token.TokenKey;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** AgentMain as a process, started wrong: one clear line saying what is wrong, no stack trace, exit 1. */
class AgentStartErrorsTest {

    record Outcome(int exit, String output) {}

    @Test
    void aListenPortInUseIsSaidPlainly(@TempDir Path dir) throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Outcome o = run(dir, "--listen", "127.0.0.1:" + taken.getLocalPort(), "--capacity", "8MiB", "--slab-size", "1MiB",
                    "--registration", "none");
            assertThat(o.exit).as(o.output).isEqualTo(1);
            assertThat(o.output).contains("farmem agent: cannot listen on 127.0.0.1:" + taken.getLocalPort()
                    + ": the address is already in use");
            assertNoStackTrace(o);
        }
    }

    @Test
    void kubernetesRegistrationOutsideAClusterIsSaidPlainly(@TempDir Path dir) throws Exception {
        Outcome o = run(dir, "--listen", "127.0.0.1:0", "--capacity", "8MiB", "--slab-size", "1MiB", "--registration", "kubernetes");
        assertThat(o.exit).as(o.output).isEqualTo(1);
        assertThat(o.output).contains("farmem agent: cannot register with Kubernetes: --registration kubernetes, but this process is not in a"
                + " Kubernetes cluster").contains("--registration none");
        assertThat(o.output).doesNotContain("InvocationTargetException");
        assertNoStackTrace(o);
    }

    @Test
    void aCapacityTheMachineCannotGiveIsRefusedBeforeAllocating(@TempDir Path dir) throws Exception {
        Outcome o = run(dir, "--listen", "127.0.0.1:0", "--capacity", "64TiB", "--slab-size", "64MiB", "--registration", "none");
        assertThat(o.exit).as(o.output).isEqualTo(1);
        assertThat(o.output).contains("farmem agent: --capacity 64TiB cannot be given").contains("Lower --capacity to at most");
        assertThat(o.output).doesNotContain("allocating");
        assertNoStackTrace(o);
    }

    private static void assertNoStackTrace(Outcome o) {
        assertThat(o.output).doesNotContain("\tat ").doesNotContain("Exception:");
    }

    /** Runs AgentMain outside any cluster (no service host, no kubeconfig) until it exits. */
    private static Outcome run(Path dir, String... flags) throws Exception {
        Path keyFile = Files.write(dir.resolve("pool.key"), TokenKey.generate());
        Path home = Files.createDirectories(dir.resolve("home"));
        Path log = dir.resolve("agent.log");
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx64m", "-Duser.home=" + home, "-cp", System.getProperty("java.class.path"), "dev.farmem.agent.AgentMain",
                "--metrics", "127.0.0.1:0", "--key-file", keyFile.toString(), "--node-name", "start-node", "--io-threads", "1"));
        cmd.addAll(List.of(flags));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("KUBERNETES_") || k.equals("KUBECONFIG") || k.startsWith("FARMEM_"));
        Process p = pb.start();
        try {
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("the agent exits on its own").isTrue();
            return new Outcome(p.exitValue(), Files.readString(log));
        } finally {
            p.destroyForcibly();
        }
    }
}
