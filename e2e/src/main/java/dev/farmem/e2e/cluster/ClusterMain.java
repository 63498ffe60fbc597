package dev.farmem.e2e.cluster;

import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.EnvironmentDefaults;
import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ClusterNetwork;
import dev.farmem.e2e.harness.ControlPlane;
import dev.farmem.e2e.harness.LocalCluster;
import dev.farmem.e2e.harness.node.NodeImages;
import dev.farmem.e2e.harness.node.NodeSpec;
import dev.farmem.e2e.probe.ProbeApp;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code java -jar farmem-e2e.jar up [--nodes N] --dir DIR}: the local control plane and real nodes for a person, kept
 * until SIGTERM (what e2e/cluster down sends). {@code probe-app}: the small server the e2e pods run.
 */
public final class ClusterMain {
    private static final String USAGE = "usage: farmem-e2e.jar up [--nodes N] --dir DIR   (use e2e/cluster up|down; up --help)\n"
            + "       farmem-e2e.jar probe-app [--port P]       (the e2e test pods' server; probe-app --help)";

    private ClusterMain() {}

    public static void main(String[] args) throws Exception {
        String cmd = args.length == 0 ? "help" : args[0];
        String[] rest = Arrays.copyOfRange(args, Math.min(1, args.length), args.length);
        switch (cmd) {
            case "up" -> up(rest);
            case "probe-app" -> ProbeApp.main(rest);
            case "help", "--help", "-h" -> System.out.println(USAGE);
            default -> {
                System.err.println("farmem-e2e: unknown command '" + cmd + "'\n" + USAGE);
                System.exit(2);
            }
        }
    }

    @Command(name = "java -jar farmem-e2e.jar up", sortOptions = false,
            description = {"The local control plane and real nodes for a person, kept until SIGTERM (use e2e/cluster up|down).", ""})
    static final class Up {
        @Option(names = "--nodes", paramLabel = "N", defaultValue = "3", description = "Ready nodes, 1..16, in zones a, b, c")
        int nodes;
        @Option(names = "--dir", paramLabel = "DIR", description = "the directory the control plane keeps its state and kubeconfig in (required)")
        Path dir;

        /** The flags checked; throws IllegalArgumentException saying which value is wrong. */
        Up checked() {
            Cli.inRange("--nodes", nodes, 1, ClusterNetwork.MAX_NODES);
            if (dir == null) throw new IllegalArgumentException("--dir DIR is required: the directory the control plane keeps its state and kubeconfig in");
            return this;
        }
    }

    private static void up(String[] args) throws Exception {
        Up flags = Cli.of(new Up(), EnvironmentDefaults.NONE).parseOrExit(args, Up::checked);
        int nodes = flags.nodes;
        Path dir = flags.dir;
        if (Files.exists(dir) && Files.list(dir).findAny().isPresent()) {
            fail(dir + " is not empty: is a cluster already up? run e2e/cluster down first");
        }
        List<NodeSpec> specs = new ArrayList<>();
        for (int i = 0; i < nodes; i++) {
            specs.add(NodeSpec.of("node-" + (i + 1), "zone-" + (char) ('a' + i % 3), "rack-" + (i + 1)));
        }
        long t0 = System.nanoTime();
        Binaries binaries = Binaries.locate();
        NodeImages images = NodeImages.locate(binaries.repo());
        ControlPlane cp = ControlPlane.start(binaries, dir, true);
        double controlPlaneSeconds = (System.nanoTime() - t0) / 1e9;
        LocalCluster cluster = LocalCluster.start(binaries, images, cp, specs);
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            cluster.close();
            stopped.countDown();
        }, "cluster-down"));
        System.out.printf("control plane %s ready in %.1f s; with %d Ready nodes up in %.1f s%n", binaries.kubernetesVersion(),
                controlPlaneSeconds, nodes, (System.nanoTime() - t0) / 1e9);
        Files.writeString(dir.resolve("ready"), cluster.kubeconfig().toString() + "\n");
        stopped.await();
    }

    private static void fail(String message) {
        System.err.println("farmem-e2e: " + message);
        System.exit(2);
    }
}
