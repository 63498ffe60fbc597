package dev.farmem.e2e.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The addresses of one local cluster, all in a /16 of 10/8 that no address or route of this machine uses
 * ({@code 10.K.0.0/16}, K drawn per cluster so two clusters on one machine do not meet):
 * <ul>
 * <li>{@code 10.K.0.1}: the host's end of the cluster's bridge {@code farmemK}, where the API server listens;</li>
 * <li>{@code 10.K.0.(10+i)}: node i, a network namespace on that bridge;</li>
 * <li>{@code 10.K.(16+i).0/24}: node i's pods, behind the CNI bridge inside the node;</li>
 * <li>{@code 10.K.224.0/20}: Service ClusterIPs, which each node's kube-proxy translates.</li>
 * </ul>
 * The plumbing is {@code e2e/bin/cluster-net} and {@code e2e/bin/node-net}; {@link #close()} (or, if this JVM is
 * killed, a watcher) removes every namespace, route, rule and cgroup and restores the kernel settings kubelets change.
 */
public final class ClusterNetwork implements AutoCloseable {
    /** Node indices 0..15: node-net routes every node's pod range to every other node. */
    public static final int MAX_NODES = 16;

    private final int k;
    private final Path dir;
    private final Path bin;
    private final Process watcher;
    private boolean closed;

    private ClusterNetwork(int k, Path dir, Path bin, Process watcher) {
        this.k = k;
        this.dir = dir;
        this.bin = bin;
        this.watcher = watcher;
    }

    /** Makes the bridge of a new cluster whose state lives in {@code dir}. */
    public static ClusterNetwork create(Path repo, Path dir) {
        Path bin = repo.resolve("e2e/bin");
        for (int attempt = 0; attempt < 40; attempt++) {
            int k = 16 + ThreadLocalRandom.current().nextInt(200);
            if (run(bin, List.of("cluster-net", "free", Integer.toString(k)), false) != 0) {
                continue;
            }
            run(bin, List.of("cluster-net", "up", Integer.toString(k), dir.toString()), true);
            return new ClusterNetwork(k, dir, bin, tearDownWhenJvmDies(bin, k, dir));
        }
        throw new IllegalStateException("no free 10.K.0.0/16 block for a local cluster: every one tried is in use on this machine");
    }

    public int block() { return k; }
    public String bridgeAddress() { return "10." + k + ".0.1"; }
    public String serviceCidr() { return "10." + k + ".224.0/20"; }
    public String podCidrs() { return "10." + k + ".16.0/20"; }
    public String nodeAddress(int i) { return "10." + k + ".0." + (10 + checkIndex(i)); }
    public String podCidr(int i) { return "10." + k + "." + (16 + checkIndex(i)) + ".0/24"; }
    /** The cgroup (under each v1 controller) that holds node i's pods. */
    public String cgroupRoot(int i) { return "/farmem-" + k + "/n" + checkIndex(i); }
    public String netns(int i) { return "fm" + k + "n" + checkIndex(i); }

    /** Runs {@code e2e/bin/node-net <verb> K i [dir]}, failing with its output when it fails. */
    public void node(String verb, int i, Path nodeDir) {
        List<String> args = new ArrayList<>(List.of("node-net", verb, Integer.toString(k), Integer.toString(checkIndex(i))));
        if (nodeDir != null) {
            args.add(nodeDir.toString());
        }
        run(bin, args, true);
    }

    private static int checkIndex(int i) {
        if (i < 0 || i >= MAX_NODES) {
            throw new IllegalArgumentException("node index " + i + " is not in 0.." + (MAX_NODES - 1));
        }
        return i;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        run(bin, List.of("cluster-net", "down", Integer.toString(k), dir.toString()), false);
        watcher.destroyForcibly();
    }

    /** After a SIGKILL of this JVM: once the components' own watchers have ended them, take the network down too. */
    private static Process tearDownWhenJvmDies(Path bin, int k, Path dir) {
        String script = "while kill -0 " + ProcessHandle.current().pid() + " 2>/dev/null; do sleep 1; done; sleep 7; '"
                + bin.resolve("cluster-net") + "' down " + k + " '" + dir.toString().replace("'", "") + "'";
        try {
            return new ProcessBuilder("setsid", "sh", "-c", script).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the clean-up watcher of cluster 10." + k + ".0.0/16", e);
        }
    }

    static int run(Path bin, List<String> args, boolean check) {
        List<String> command = new ArrayList<>(args);
        command.set(0, bin.resolve(args.get(0)).toString());
        Command result = Command.run(null, Duration.ofSeconds(120), command);
        if (check) {
            result.check(String.join(" ", args));
        }
        return result.exitCode();
    }
}
