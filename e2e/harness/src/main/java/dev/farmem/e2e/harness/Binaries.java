package dev.farmem.e2e.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The pinned control-plane binaries (e2e/versions.env), as provisioned by e2e/setup into the cache, each verified
 * with {@code --version} before use.
 */
public final class Binaries {
    private final Path repoRoot;
    private final String k8sVersion;
    private final String etcdVersion;
    private final Path cache;

    private Binaries(Path repoRoot, String k8sVersion, String etcdVersion, Path cache) {
        this.repoRoot = repoRoot;
        this.k8sVersion = k8sVersion;
        this.etcdVersion = etcdVersion;
        this.cache = cache;
    }

    /** Reads the pins from the repository this code runs in; the cache is $FARMEM_CACHE or ~/.cache/farmem. */
    public static Binaries locate() {
        Path root = repoRoot();
        Map<String, String> pins = readEnvFile(root.resolve("e2e/versions.env"));
        String cacheEnv = System.getenv("FARMEM_CACHE");
        Path cache = cacheEnv != null && !cacheEnv.isBlank() ? Path.of(cacheEnv)
                : Path.of(System.getProperty("user.home"), ".cache", "farmem");
        return new Binaries(root, require(pins, "K8S_VERSION"), require(pins, "ETCD_VERSION"), cache);
    }

    /** The repository root: -Dfarmem.root, else the nearest directory up from the working one holding e2e/versions.env. */
    public static Path repoRoot() {
        String prop = System.getProperty("farmem.root");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop).toAbsolutePath().normalize();
        }
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("e2e/versions.env"))) {
                return p;
            }
        }
        throw new IllegalStateException("cannot find the farmem repository (no e2e/versions.env above "
                + Path.of("").toAbsolutePath() + "): run from inside it or pass -Dfarmem.root=<repo>");
    }

    public Path repo() { return repoRoot; }
    public String kubernetesVersion() { return k8sVersion; }
    public String etcdVersion() { return etcdVersion; }
    public Path etcd() { return verified(cache.resolve("etcd").resolve(etcdVersion).resolve("etcd"), "etcd Version: " + etcdVersion.substring(1)); }
    public Path kubeApiserver() { return k8s("kube-apiserver"); }
    public Path kubeControllerManager() { return k8s("kube-controller-manager"); }
    public Path kubeScheduler() { return k8s("kube-scheduler"); }
    public Path kubelet() { return k8s("kubelet"); }
    public Path kubeProxy() { return k8s("kube-proxy"); }

    private Path k8s(String name) {
        return verified(cache.resolve("k8s").resolve(k8sVersion).resolve("bin").resolve(name), "Kubernetes " + k8sVersion);
    }

    private Path verified(Path binary, String expectedVersionLine) {
        String hint = " Run e2e/setup to build it (or set KUBECONFIG to test against an existing cluster).";
        if (!Files.isExecutable(binary)) {
            throw new IllegalStateException(binary + " is missing." + hint);
        }
        try {
            Process p = new ProcessBuilder(List.of(binary.toString(), "--version")).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.SECONDS) || !out.lines().anyMatch(l -> l.strip().equals(expectedVersionLine))) {
                p.destroyForcibly();
                throw new IllegalStateException(binary + " does not report '" + expectedVersionLine + "' (it said: "
                        + out.strip() + ")." + hint);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + binary + " --version." + hint, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while verifying " + binary, e);
        }
        return binary;
    }

    private static Map<String, String> readEnvFile(Path file) {
        Map<String, String> values = new HashMap<>();
        try {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String l = line.strip();
                int eq = l.indexOf('=');
                if (l.isEmpty() || l.startsWith("#") || eq < 1) {
                    continue;
                }
                values.put(l.substring(0, eq), l.substring(eq + 1).replace("\"", ""));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        return values;
    }

    private static String require(Map<String, String> pins, String key) {
        String v = pins.get(key);
        if (v == null || !v.startsWith("v")) {
            throw new IllegalStateException("e2e/versions.env must pin " + key + "=v<version>");
        }
        return v;
    }
}
