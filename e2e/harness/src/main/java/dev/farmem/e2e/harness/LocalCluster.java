package dev.farmem.e2e.harness;

import dev.farmem.e2e.harness.kubelet.ImageTable;
import dev.farmem.e2e.harness.kubelet.LocalKubelet;
import dev.farmem.e2e.harness.kubelet.NodeSpec;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;

/** A {@link ControlPlane} and a {@link LocalKubelet} on it: a whole cluster on this machine's loopback. */
public final class LocalCluster implements AutoCloseable {
    private final ControlPlane controlPlane;
    private final LocalKubelet kubelet;

    private LocalCluster(ControlPlane controlPlane, LocalKubelet kubelet) {
        this.controlPlane = controlPlane;
        this.kubelet = kubelet;
    }

    /** Starts a control plane in a temporary directory and the given nodes, and waits until they are Ready. */
    public static LocalCluster start(List<NodeSpec> nodes) {
        Binaries binaries = Binaries.locate();
        return start(binaries, ControlPlane.start(binaries), nodes);
    }

    /** Starts the kubelet and nodes on a control plane this cluster then owns (and closes). */
    public static LocalCluster start(Binaries binaries, ControlPlane cp, List<NodeSpec> nodes) {
        LocalKubelet kubelet = null;
        try {
            kubelet = new LocalKubelet(cp.client(), cp.apiServerHost(), cp.apiServerPort(), cp.addresses(),
                    cp.directory().resolve("kubelet"), ImageTable.load(binaries.repo()), binaries.repo(), binaries.kubernetesVersion());
            LocalCluster cluster = new LocalCluster(cp, kubelet);
            // register every node first so the node controller's passes cover them together
            for (NodeSpec n : nodes) {
                kubelet.startNode(n);
            }
            for (NodeSpec n : nodes) {
                cluster.awaitNode(n.name(), true, Duration.ofSeconds(60));
            }
            return cluster;
        } catch (RuntimeException | Error e) {
            if (kubelet != null) {
                kubelet.close();
            }
            cp.close();
            throw e;
        }
    }

    public KubernetesClient client() { return controlPlane.client(); }
    public Path kubeconfig() { return controlPlane.kubeconfig(); }
    public ControlPlane controlPlane() { return controlPlane; }
    public LocalKubelet kubelet() { return kubelet; }

    /** Registers (or restarts) a node and waits until the node controller has it Ready and schedulable. */
    public void startNode(NodeSpec spec) {
        kubelet.startNode(spec);
        awaitNode(spec.name(), true, Duration.ofSeconds(60));
    }

    /** Simulates losing a node: its heartbeats stop and its processes die; it turns NotReady within seconds. */
    public void stopNode(String name) {
        kubelet.stopNode(name);
    }

    /** Waits until the node's Ready condition is (or is not) True, and a Ready node carries no not-ready taint. */
    public void awaitNode(String name, boolean ready, Duration timeout) {
        Instant deadline = Instant.now().plus(timeout);
        while (true) {
            Node n = client().nodes().withName(name).get();
            if (n != null && isReady(n) == ready) {
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new IllegalStateException("node " + name + " did not become " + (ready ? "Ready" : "NotReady") + " within "
                        + timeout.toSeconds() + "s; it has " + (n == null ? "no Node object" : "conditions " + n.getStatus().getConditions()
                        + " and taints " + n.getSpec().getTaints()) + "; see the logs in " + controlPlane.directory().resolve("logs"));
            }
            ControlPlane.sleep(250);
        }
    }

    /** Ready condition True and, for a Ready node, the node controller has lifted the not-ready taint. */
    public static boolean isReady(Node n) {
        boolean readyCondition = n.getStatus() != null && n.getStatus().getConditions() != null && n.getStatus().getConditions().stream()
                .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus()));
        boolean tainted = n.getSpec().getTaints() != null && n.getSpec().getTaints().stream()
                .anyMatch(t -> t.getKey().startsWith("node.kubernetes.io/"));
        return readyCondition && !tainted;
    }

    @Override
    public void close() {
        try {
            kubelet.close();
        } finally {
            controlPlane.close();
        }
    }
}
