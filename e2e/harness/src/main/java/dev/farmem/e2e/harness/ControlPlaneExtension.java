package dev.farmem.e2e.harness;

import dev.farmem.e2e.harness.node.NodeSpec;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.File;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * A Kubernetes cluster for a test class: the local control plane with real nodes (one cluster per JVM, shared by
 * every class that uses this extension, so a suite pays the start once), or the cluster KUBECONFIG names.
 * <pre>{@code
 * @RegisterExtension
 * static ControlPlaneExtension cluster = ControlPlaneExtension.withNodes(3);
 *
 * @Test void agentsRun() {
 *     cluster.kubectl().run("apply", "-f", "pool.yaml").check();
 *     cluster.client().pods().inNamespace("farmem").list();
 *     cluster.stopNode("node-2");   // local cluster only; skipped with a reason against KUBECONFIG
 * }
 * }</pre>
 * With -Dfarmem.e2e.skip=true ({@code ./farmem test --fast}) every test of the class is skipped, saying why.
 */
public final class ControlPlaneExtension implements BeforeAllCallback, ExecutionCondition {
    public static final String SKIP_PROPERTY = "farmem.e2e.skip";
    private static LocalCluster shared;

    private final List<NodeSpec> nodes;
    private KubernetesClient externalClient;
    private Path externalKubeconfig;

    private ControlPlaneExtension(List<NodeSpec> nodes) {
        this.nodes = List.copyOf(nodes);
    }

    /** {@code n} nodes named node-1..node-n, in zones zone-a/b/c in turn, each in its own rack rack-1..rack-n. */
    public static ControlPlaneExtension withNodes(int n) {
        List<NodeSpec> specs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            specs.add(NodeSpec.of("node-" + (i + 1), "zone-" + (char) ('a' + i % 3), "rack-" + (i + 1)));
        }
        return new ControlPlaneExtension(specs);
    }

    public static ControlPlaneExtension withNodes(NodeSpec... specs) {
        return new ControlPlaneExtension(List.of(specs));
    }

    /** Disabled (reported as skipped, with the reason) under -Dfarmem.e2e.skip=true. */
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        return Boolean.getBoolean(SKIP_PROPERTY)
                ? ConditionEvaluationResult.disabled("end-to-end tests are skipped (-D" + SKIP_PROPERTY + "=true, ./farmem test --fast)")
                : ConditionEvaluationResult.enabled("a control plane is available or will be started");
    }

    @Override
    public void beforeAll(ExtensionContext context) {
        String kubeconfig = System.getenv("KUBECONFIG");
        if (kubeconfig != null && !kubeconfig.isBlank()) {
            externalKubeconfig = Path.of(kubeconfig.split(File.pathSeparator)[0]);
            try {
                externalClient = new KubernetesClientBuilder()
                        .withConfig(Config.fromKubeconfig(Files.readString(externalKubeconfig))).build();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read KUBECONFIG " + externalKubeconfig, e);
            }
            return;
        }
        synchronized (ControlPlaneExtension.class) {
            if (shared == null) {
                shared = LocalCluster.start(nodes);
                LocalCluster started = shared;
                Runtime.getRuntime().addShutdownHook(new Thread(started::close, "farmem-control-plane-stop"));
                // closed when the whole test run ends, so later classes reuse it
                context.getRoot().getStore(ExtensionContext.Namespace.GLOBAL)
                        .put(ControlPlaneExtension.class.getName(), (ExtensionContext.Store.CloseableResource) () -> {
                            synchronized (ControlPlaneExtension.class) {
                                started.close();
                                shared = null;
                            }
                        });
            } else {
                for (NodeSpec n : nodes) {
                    if (!shared.isRunning(n.name())) {
                        shared.startNode(n);
                    }
                }
            }
        }
    }

    /** An admin client of the cluster. */
    public KubernetesClient client() {
        return isLocal() ? local().client() : externalClient;
    }

    /** The admin kubeconfig: what {@code export KUBECONFIG=...} would name. */
    public Path kubeconfig() {
        return isLocal() ? local().kubeconfig() : externalKubeconfig;
    }

    public Kubectl kubectl() {
        return new Kubectl(kubeconfig());
    }

    /** True when the cluster is the local one (node faults are available). */
    public boolean isLocal() {
        return externalClient == null;
    }

    /** The local cluster; aborts (skips) the calling test when the cluster is an external one. */
    public LocalCluster local() {
        Assumptions.assumeTrue(externalClient == null, "needs the local control plane (KUBECONFIG names an external cluster)");
        if (shared == null) {
            throw new IllegalStateException("the control plane is not started: register the extension with @RegisterExtension static");
        }
        return shared;
    }

    /** Power loss of a node: kubelet, containerd and every container on it die (local cluster only). */
    public void stopNode(String name) {
        local().stopNode(name);
    }

    /** Cuts the node off the network, and {@link #healNode} reconnects it (local cluster only). */
    public void partitionNode(String name) {
        local().partitionNode(name);
    }

    public void healNode(String name) {
        local().healNode(name);
    }

    /** A container's log as {@code kubectl logs} shows it, or a line saying why there is none. */
    public String logs(String namespace, String pod, String container) {
        return kubectl().logs(namespace, pod, container);
    }

    public void startNode(NodeSpec spec) {
        local().startNode(spec);
    }

    /**
     * A new namespace named {@code prefix-<random>}, returned once its default ServiceAccount exists (pods are
     * refused before that).
     */
    public String createNamespace(String prefix) {
        String name = prefix + "-" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0xffff));
        client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(name).endMetadata().build()).create();
        Instant deadline = Instant.now().plus(Duration.ofSeconds(30));
        while (client().serviceAccounts().inNamespace(name).withName("default").get() == null
                || client().configMaps().inNamespace(name).withName("kube-root-ca.crt").get() == null) {
            if (Instant.now().isAfter(deadline)) {
                throw new IllegalStateException("namespace " + name + " got no default ServiceAccount within 30 s: is the controller manager running?");
            }
            ControlPlane.sleep(100);
        }
        return name;
    }
}
