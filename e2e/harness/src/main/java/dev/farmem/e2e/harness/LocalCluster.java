package dev.farmem.e2e.harness;

import dev.farmem.e2e.harness.node.ClusterNode;
import dev.farmem.e2e.harness.node.NodeImages;
import dev.farmem.e2e.harness.node.NodeSpec;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * A {@link ControlPlane} and real nodes on it ({@link ClusterNode}: containerd, kubelet and kube-proxy each), loaded
 * with farmem's images: a whole cluster on this machine, on addresses of its own.
 */
public final class LocalCluster implements AutoCloseable {
    /**
     * A kubelet registers its Node within seconds on a quiet machine; with other clusters and builds on the same 2
     * cores it took more than 90 s once. The wait ends as soon as the node is Ready.
     */
    static final Duration NODE_READY_TIMEOUT = Duration.ofSeconds(180);

    private final ControlPlane controlPlane;
    private final Binaries binaries;
    private final NodeImages images;
    private final Map<String, ClusterNode> nodes = new LinkedHashMap<>();

    private LocalCluster(ControlPlane controlPlane, Binaries binaries, NodeImages images) {
        this.controlPlane = controlPlane;
        this.binaries = binaries;
        this.images = images;
    }

    /** Starts a control plane in a temporary directory and the given nodes, and waits until they are Ready. */
    public static LocalCluster start(List<NodeSpec> nodes) {
        Binaries binaries = Binaries.locate();
        NodeImages images = NodeImages.locate(binaries.repo());
        return start(binaries, images, ControlPlane.start(binaries), nodes);
    }

    /** Starts the nodes on a control plane this cluster then owns (and closes). */
    public static LocalCluster start(Binaries binaries, NodeImages images, ControlPlane cp, List<NodeSpec> specs) {
        LocalCluster cluster = new LocalCluster(cp, binaries, images);
        try {
            List<ClusterNode> started = new ArrayList<>();
            for (NodeSpec spec : specs) {
                started.add(cluster.add(spec));
            }
            // boot in parallel: most of a node's start is loading the images into its containerd
            CompletableFuture.allOf(started.stream().map(n -> CompletableFuture.runAsync(n::start)).toArray(CompletableFuture[]::new)).join();
            for (NodeSpec spec : specs) {
                cluster.awaitNode(spec.name(), true, NODE_READY_TIMEOUT);
            }
            return cluster;
        } catch (CompletionException e) {
            RuntimeException cause = e.getCause() instanceof RuntimeException r ? r : e;
            closeAfterFailure(cluster, cause);
            throw cause;
        } catch (RuntimeException | Error e) {
            closeAfterFailure(cluster, e);
            throw e;
        }
    }

    /** Clean-up after a failed start must not hide why it failed. */
    private static void closeAfterFailure(LocalCluster cluster, Throwable failure) {
        try {
            cluster.close();
        } catch (RuntimeException e) {
            failure.addSuppressed(e);
        }
    }

    public KubernetesClient client() { return controlPlane.client(); }
    public Path kubeconfig() { return controlPlane.kubeconfig(); }
    public ControlPlane controlPlane() { return controlPlane; }

    /** The node named {@code name}; it must have been started once. */
    public synchronized ClusterNode node(String name) {
        ClusterNode n = nodes.get(name);
        if (n == null) {
            throw new IllegalArgumentException("no node " + name + " in this cluster; it has " + nodes.keySet());
        }
        return n;
    }

    public synchronized boolean isRunning(String name) {
        ClusterNode n = nodes.get(name);
        return n != null && n.isRunning();
    }

    /** Starts a new node, or boots a powered-off one again, and waits until it is Ready and schedulable. */
    public void startNode(NodeSpec spec) {
        ClusterNode n;
        synchronized (this) {
            n = nodes.containsKey(spec.name()) ? nodes.get(spec.name()) : add(spec);
        }
        n.start();
        awaitNode(spec.name(), true, NODE_READY_TIMEOUT);
    }

    /** {@link ClusterNode#tagImage} on every running node (containerd keeps the tag across a power-off). */
    public synchronized void tagImage(String source, String target) {
        for (ClusterNode n : nodes.values()) {
            if (n.isRunning()) n.tagImage(source, target);
        }
    }

    /** Power loss of a node: its kubelet, containerd and containers die; the node controller marks it NotReady. */
    public void stopNode(String name) {
        node(name).powerOff();
    }

    /** Cuts a node off the cluster's network (it keeps running); {@link #healNode} reconnects it. */
    public void partitionNode(String name) {
        node(name).partition();
    }

    public void healNode(String name) {
        node(name).heal();
    }

    private synchronized ClusterNode add(NodeSpec spec) {
        if (nodes.size() >= ClusterNetwork.MAX_NODES) {
            throw new IllegalStateException("a local cluster has at most " + ClusterNetwork.MAX_NODES + " nodes");
        }
        ClusterNode n = new ClusterNode(spec, nodes.size(), controlPlane, binaries, images);
        nodes.put(spec.name(), n);
        return n;
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
            List<ClusterNode> all;
            synchronized (this) {
                all = new ArrayList<>(nodes.values());
                nodes.clear();
            }
            CompletableFuture.allOf(all.stream().map(n -> CompletableFuture.runAsync(n::close)).toArray(CompletableFuture[]::new)).join();
        } finally {
            controlPlane.close();
        }
    }
}
