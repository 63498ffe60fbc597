package dev.farmem.e2e.harness;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** kubectl as a user runs it, against one kubeconfig: {@code kubectl.run("get", "nodes", "-o", "name")}. */
public final class Kubectl {
    /** What one kubectl call printed and returned. */
    public record Result(int exitCode, String out, String err) {
        public Result check() {
            if (exitCode != 0) {
                throw new IllegalStateException("kubectl failed with exit code " + exitCode + ": " + err.strip());
            }
            return this;
        }
    }

    private final Path kubeconfig;
    private final String binary;

    public Kubectl(Path kubeconfig) {
        this.kubeconfig = kubeconfig;
        String env = System.getenv("KUBECTL");
        this.binary = env != null && !env.isBlank() ? env : "kubectl";
    }

    public Result run(String... args) {
        return runWithInput(null, args);
    }

    /** {@code kubectl logs} of one container, or a line saying why there is none (for diagnostics). */
    public String logs(String namespace, String pod, String container) {
        Result r = run("logs", "-n", namespace, pod, "-c", container, "--tail=200");
        return r.exitCode() == 0 ? r.out() : "(kubectl logs " + namespace + "/" + pod + " -c " + container + ": " + r.err().strip() + ")";
    }

    /** {@code kubectl apply -f -} and friends: {@code stdin} is written to kubectl's standard input. */
    public Result runWithInput(String stdin, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(binary);
        cmd.add("--kubeconfig=" + kubeconfig);
        cmd.addAll(List.of(args));
        try {
            Process p = new ProcessBuilder(cmd).start();
            CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> read(p.getInputStream()));
            CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> read(p.getErrorStream()));
            try (var in = p.getOutputStream()) {
                if (stdin != null) {
                    in.write(stdin.getBytes(StandardCharsets.UTF_8));
                }
            }
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException("kubectl " + String.join(" ", args) + " did not finish within 120 s");
            }
            return new Result(p.exitValue(), out.join(), err.join());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + binary + " (install kubectl 1.32 or set KUBECTL=<path>)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running kubectl", e);
        }
    }

    private static String read(InputStream in) {
        try {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    public Path kubeconfig() {
        return kubeconfig;
    }

}
