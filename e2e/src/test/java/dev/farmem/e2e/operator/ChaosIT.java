package dev.farmem.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.Release;
import dev.farmem.client.FarLongArray;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.common.binding.Binding;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;
import dev.farmem.e2e.harness.LocalCluster;
import dev.farmem.e2e.harness.node.NodeSpec;
import dev.farmem.operator.claim.BindingSecret;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * Issue 16's chaos scenario on real nodes: the chart's operator, a pool of 4 memory nodes (zones a, b, c, a), two
 * claims of replication 2, one under the demo application in a pod with the sidecar (round after round it verifies
 * what it last acknowledged, writes, flushes) and one written once by a client in this JVM. Then, in turn: a node is
 * powered off, a node is drained, the agent image is rolled, an agent is killed, a node is partitioned and healed.
 * After each, every claim is back to its replication on Ready memory nodes, every acknowledged write reads back
 * (the app never logs LOST; the second claim reads its pattern from a client with an empty cache), and the
 * application kept going. It prints {@code FIGURE} lines: time to restore redundancy per GiB moved, and the app's
 * rounds/s while the data moved vs before.
 *
 * <p>The application and the operator run on a fifth node that agents do not tolerate, so that a fault of a memory node
 * is never also a fault of the workload that proves nothing was lost.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChaosIT {
    static final String NS = "farmem-system";
    static final String APPS = "apps";
    static final String POOL = "chaos";
    static final String APP_CLAIM = "app-cache";
    static final String JVM_CLAIM = "jvm-cache";
    static final long SLAB = 4L << 20;
    static final Duration WAIT = Duration.ofSeconds(300);
    static final String AGENT_IMAGE = "ghcr.io/farmem/farmem-agent:0.1.0";
    static final String ROLLED_IMAGE = "ghcr.io/farmem/farmem-agent:0.1.0-rolled";
    static final List<NodeSpec> MEMORY_NODES = List.of(NodeSpec.of("node-1", "zone-a", "rack-1"), NodeSpec.of("node-2", "zone-b", "rack-2"),
            NodeSpec.of("node-3", "zone-c", "rack-3"), NodeSpec.of("node-4", "zone-a", "rack-4"));
    static final NodeSpec APP_NODE = NodeSpec.of("node-app", "zone-d", "rack-5").withLabel("farmem.io/role", "app")
            .withTaint("farmem.io/role=app:NoSchedule");

    static LocalCluster cluster;
    static KubernetesClient admin;
    static final List<String> figures = new ArrayList<>();

    @BeforeAll
    static void theChartAPoolTwoClaimsAndTheApplication() {
        Assumptions.assumeFalse(Boolean.getBoolean(ControlPlaneExtension.SKIP_PROPERTY),
                "end-to-end tests are skipped (-D" + ControlPlaneExtension.SKIP_PROPERTY + "=true)");
        List<NodeSpec> nodes = new ArrayList<>(MEMORY_NODES);
        nodes.add(APP_NODE);
        cluster = LocalCluster.start(nodes);
        admin = cluster.client();
        admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(NS)
                .addToLabels("pod-security.kubernetes.io/enforce", "baseline").endMetadata().build()).create();
        admin.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(APPS).endMetadata().build()).create();
        Release release = new Helm(Binaries.repoRoot().resolve("helm/farmem")).install().withName("farmem").withNamespace(NS)
                .set("operator.nodeSelector.farmem\\.io/role", "app")
                .set("operator.tolerations[0].key", "farmem.io/role").set("operator.tolerations[0].operator", "Exists")
                .withKubeConfig(cluster.kubeconfig()).call();
        assertThat(release.getStatus()).isEqualTo("deployed");
        await("the operator serves the webhook", () -> {
            var cfg = admin.admissionRegistration().v1().mutatingWebhookConfigurations().withName("farmem-webhook").get();
            return cfg != null && cfg.getWebhooks().get(0).getClientConfig().getCaBundle() != null;
        });
        kubectl().runWithInput("""
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryPool
                metadata: {name: %s}
                spec:
                  capacity: {perNodeBytes: 67108864, maxNodes: 4}
                  slabSizeBytes: %d
                """.formatted(POOL, SLAB), "apply", "-f", "-").check();
        await("pool " + POOL + " Ready with 4 memory nodes", () -> isTrue(pool().getStatus().conditions, "Ready") && "4/4".equals(pool().getStatus().readyNodes));
        for (var claim : List.of(List.of(APP_CLAIM, "16777216"), List.of(JVM_CLAIM, "33554432"))) {
            kubectl().runWithInput("""
                    apiVersion: farmem.io/v1alpha1
                    kind: FarMemoryClaim
                    metadata: {name: %s, namespace: %s}
                    spec: {pool: %s, sizeBytes: %s, replication: 2}
                    """.formatted(claim.get(0), APPS, POOL, claim.get(1)), "apply", "-f", "-").check();
        }
        await("both claims Bound and replicated, with their binding Secrets",
                () -> everyClaimReplicated() && binding(APP_CLAIM) != null && binding(JVM_CLAIM) != null);
        writePattern();
        admin.pods().inNamespace(APPS).resource(demoPod()).create();
        await("the demo app acknowledged 3 rounds", () -> appLog().contains("round 3 written and flushed"));
    }

    @AfterAll
    static void stop() {
        figures.forEach(System.out::println);
        if (cluster != null) cluster.close();
    }

    @Test
    @Order(1)
    void aNodeLosesPower() {
        String victim = nodeWithReplicas();
        String memoryNode = readyMemoryNodeOn(victim).getMetadata().getName();
        disrupt("power-off of " + victim, () -> {
            cluster.stopNode(victim);
            await("memory node " + memoryNode + " Lost", () -> MemoryNodeStatus.LOST.equals(memoryNode(memoryNode).getStatus().phase));
        });
        cluster.startNode(spec(victim));
        await("pool back to 4 Ready memory nodes", () -> "4/4".equals(pool().getStatus().readyNodes));
    }

    @Test
    @Order(2)
    void aNodeIsDrained() {
        String victim = nodeWithReplicas();
        disrupt("kubectl drain " + victim, () -> {
            Kubectl.Result drained = kubectl().run("drain", victim, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s");
            System.out.println("DRAIN " + victim + ":\n" + drained.out() + drained.err());
            drained.check();
        });
        assertThat(replicaNodes()).as("no replica left on the drained node").doesNotContain(victim);
        kubectl().run("uncordon", victim).check();
        await("pool back to 4 Ready memory nodes", () -> "4/4".equals(pool().getStatus().readyNodes));
    }

    @Test
    @Order(3)
    void theAgentImageRolls() {
        cluster.tagImage(AGENT_IMAGE, ROLLED_IMAGE);
        disrupt("rolling the agent image", () -> {
            kubectl().run("patch", "farmemorypool", POOL, "--type=merge", "-p",
                    "{\"spec\":{\"agent\":{\"image\":\"" + ROLLED_IMAGE + "\"}}}").check();
            await("every agent runs the new image", () -> {
                List<Pod> agents = agentPods();
                return agents.size() == 4 && agents.stream().allMatch(p -> ROLLED_IMAGE.equals(p.getSpec().getContainers().get(0).getImage())
                        && p.getStatus().getConditions().stream().anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus())));
            });
        });
    }

    @Test
    @Order(4)
    void anAgentIsKilled() {
        String victim = nodeWithReplicas();
        String memoryNode = readyMemoryNodeOn(victim).getMetadata().getName();
        Pod agent = admin.pods().inNamespace(NS).withName(memoryNode).get(); // an agent pod is named after its memory node
        await("the agent JVM of " + memoryNode + " seen from the host", () -> processInPod(agent.getMetadata().getUid(), "dev.farmem.agent").isPresent());
        ProcessHandle jvm = processInPod(agent.getMetadata().getUid(), "dev.farmem.agent").orElseThrow();
        // Its region died with it: the operator replaces the memory node (a restarted agent would be a new, empty
        // incarnation that refuses the old tokens) and heals the claims from the surviving replicas.
        disrupt("kill -9 of the agent on " + victim, () -> {
            jvm.destroyForcibly();
            await("memory node " + memoryNode + " Lost or retired", () -> {
                MemoryNode m = memoryNode(memoryNode);
                return m == null || MemoryNodeStatus.LOST.equals(m.getStatus().phase);
            });
        });
        await("pool back to 4 Ready memory nodes", () -> "4/4".equals(pool().getStatus().readyNodes));
    }

    @Test
    @Order(5)
    void aNodeIsPartitionedAndHealed() {
        String victim = nodeWithReplicas();
        String memoryNode = readyMemoryNodeOn(victim).getMetadata().getName();
        disrupt("partition of " + victim, () -> {
            cluster.partitionNode(victim);
            await("memory node " + memoryNode + " Lost", () -> MemoryNodeStatus.LOST.equals(memoryNode(memoryNode).getStatus().phase));
        });
        cluster.healNode(victim);
        await("pool back to 4 Ready memory nodes after the heal", () -> "4/4".equals(pool().getStatus().readyNodes) && isTrue(pool().getStatus().conditions, "Ready"));
        await("both claims replicated", ChaosIT::everyClaimReplicated);
        checkEveryAcknowledgedWrite("after the partition healed");
    }

    /**
     * Runs a disruption under the workload, waits until every claim is back to its replication, then checks every
     * acknowledged write and prints the figures.
     */
    static void disrupt(String what, Runnable disruption) {
        long movedBytes = replicaBytesOn(what);
        long roundsBefore = rounds();
        Instant start = Instant.now();
        double before = roundsPerSecond(start.minusSeconds(20), start);
        disruption.run();
        await("both claims back to replication after " + what, ChaosIT::everyClaimReplicated);
        Instant restored = Instant.now();
        await("the app acknowledged 2 more rounds after " + what, () -> rounds() >= roundsBefore + 2);
        double during = roundsPerSecond(start, restored);
        double seconds = Duration.between(start, restored).toMillis() / 1000.0;
        figures.add(String.format("FIGURE %s: redundancy restored in %.1f s (%.1f MiB of replicas on the node: %.0f s per GiB); app rounds/s %.2f during vs %.2f before (%.2fx)",
                what, seconds, movedBytes / 1048576.0, movedBytes == 0 ? 0 : seconds / (movedBytes / (double) (1L << 30)), during, before,
                before == 0 ? 0 : during / before));
        System.out.println(figures.get(figures.size() - 1));
        checkEveryAcknowledgedWrite("after " + what);
    }

    // --- the proof that nothing acknowledged was lost ---

    static void writePattern() {
        try (FarMemory mem = FarMemory.open(binding(JVM_CLAIM), FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, mem.size() / 8);
            for (long i = 0; i < longs.length(); i += 511) longs.set(i, i * 31 + 7);
            mem.flush();
        }
    }

    static void checkEveryAcknowledgedWrite(String when) {
        assertThat(appLog()).as("the demo app " + when).doesNotContain("LOST");
        Pod app = admin.pods().inNamespace(APPS).withName("demo").get();
        assertThat(app.getStatus().getContainerStatuses()).as("the app container never restarted " + when)
                .filteredOn(s -> s.getName().equals("app")).allSatisfy(s -> assertThat(s.getRestartCount()).isZero());
        // A client with an empty cache: every value comes from the replicas the renewed binding names.
        try (FarMemory mem = FarMemory.open(binding(JVM_CLAIM), FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, mem.size() / 8);
            for (long i = 0; i < longs.length(); i += 511) assertThat(longs.get(i)).as("long %d of %s %s", i, JVM_CLAIM, when).isEqualTo(i * 31 + 7);
        }
    }

    // --- state ---

    /** Every claim Bound, not Degraded, each extent on {@code replication} distinct Ready memory nodes of schedulable nodes. */
    static boolean everyClaimReplicated() {
        for (String name : List.of(APP_CLAIM, JVM_CLAIM)) {
            FarMemoryClaim c = claim(name);
            if (c == null || c.getStatus() == null || !FarMemoryClaimStatus.BOUND.equals(c.getStatus().phase)) return false;
            if (isTrue(c.getStatus().conditions, "Degraded")) return false;
            for (FarMemoryClaimStatus.Extent e : c.getStatus().extents) {
                if (e.replicas.size() != c.getSpec().replication) return false;
                if (e.replicas.stream().map(r -> r.node).distinct().count() != e.replicas.size()) return false;
                for (FarMemoryClaimStatus.Replica r : e.replicas) {
                    if (Boolean.TRUE.equals(r.filling)) return false;
                    MemoryNode m = memoryNode(r.node);
                    if (m == null || m.getStatus() == null || !MemoryNodeStatus.READY.equals(m.getStatus().phase)) return false;
                    var node = admin.nodes().withName(m.getSpec().nodeName).get();
                    if (node == null || Boolean.TRUE.equals(node.getSpec().getUnschedulable())) return false;
                }
            }
        }
        return true;
    }

    /** The Kubernetes node whose memory node holds the most replicas of the claims. */
    static String nodeWithReplicas() {
        List<String> nodes = replicaNodes();
        return nodes.stream().max((a, b) -> Long.compare(nodes.stream().filter(a::equals).count(), nodes.stream().filter(b::equals).count()))
                .orElseThrow(() -> new AssertionError("no replica anywhere"));
    }

    /** The Kubernetes node of every replica of every extent of both claims, one entry per replica. */
    static List<String> replicaNodes() {
        List<String> out = new ArrayList<>();
        for (String name : List.of(APP_CLAIM, JVM_CLAIM)) {
            for (FarMemoryClaimStatus.Extent e : claim(name).getStatus().extents) {
                for (FarMemoryClaimStatus.Replica r : e.replicas) out.add(memoryNode(r.node).getSpec().nodeName);
            }
        }
        return out;
    }

    /** Bytes of the replicas on the Kubernetes node {@code what} names, if it names one (else all of a node's share). */
    static long replicaBytesOn(String what) {
        long bytes = 0;
        long all = 0;
        for (String name : List.of(APP_CLAIM, JVM_CLAIM)) {
            for (FarMemoryClaimStatus.Extent e : claim(name).getStatus().extents) {
                for (FarMemoryClaimStatus.Replica r : e.replicas) {
                    long b = (long) e.count * SLAB;
                    all += b;
                    if (what.endsWith(" " + memoryNode(r.node).getSpec().nodeName)) bytes += b;
                }
            }
        }
        return bytes > 0 ? bytes : all; // a rolling upgrade moves every node's share in turn
    }

    static Binding binding(String claim) {
        return BindingSecret.read(admin.secrets().inNamespace(APPS).withName(claim + "-binding").get());
    }

    static FarMemoryPool pool() {
        return admin.resources(FarMemoryPool.class).withName(POOL).get();
    }

    static FarMemoryClaim claim(String name) {
        return admin.resources(FarMemoryClaim.class).inNamespace(APPS).withName(name).get();
    }

    static MemoryNode memoryNode(String name) {
        return admin.resources(MemoryNode.class).withName(name).get();
    }

    static MemoryNode readyMemoryNodeOn(String node) {
        return memoryNodes().stream().filter(m -> node.equals(m.getSpec().nodeName) && m.getStatus() != null
                && MemoryNodeStatus.READY.equals(m.getStatus().phase)).findFirst().orElseThrow(() -> new AssertionError("no Ready memory node on " + node));
    }

    static List<MemoryNode> memoryNodes() {
        return admin.resources(MemoryNode.class).withLabel(MemoryNode.POOL_LABEL, POOL).list().getItems();
    }

    static List<Pod> agentPods() {
        return admin.pods().inNamespace(NS).withLabel(MemoryNode.POOL_LABEL, POOL).list().getItems().stream()
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
    }

    static NodeSpec spec(String name) {
        return MEMORY_NODES.stream().filter(s -> s.name().equals(name)).findFirst().orElseThrow();
    }

    // --- the application ---

    static Pod demoPod() {
        return new PodBuilder().withNewMetadata().withName("demo").withNamespace(APPS)
                .addToLabels("farmem.io/inject", "true")
                .addToAnnotations("farmem.io/claim", APP_CLAIM).addToAnnotations("farmem.io/cache-size", "512Ki")
                .endMetadata()
                .withNewSpec()
                .addToNodeSelector("farmem.io/role", "app")
                .addNewToleration().withKey("farmem.io/role").withOperator("Exists").endToleration()
                .addNewContainer().withName("app").withImage("ghcr.io/farmem/farmem-demo:0.1.0")
                .withArgs("--bytes", "2MiB", "--interval-ms", "200").endContainer()
                .endSpec().build();
    }

    static String appLog() {
        try {
            String log = admin.pods().inNamespace(APPS).withName("demo").inContainer("app").getLog();
            return log == null ? "" : log;
        } catch (RuntimeException e) {
            return "";
        }
    }

    static long rounds() {
        return appLog().lines().filter(l -> l.contains("written and flushed")).count();
    }

    /** Acknowledged rounds per second between two instants, from the kubelet's timestamps of the app's log lines. */
    static double roundsPerSecond(Instant from, Instant to) {
        String log;
        try {
            log = admin.pods().inNamespace(APPS).withName("demo").inContainer("app").usingTimestamps().getLog();
        } catch (RuntimeException e) {
            return 0;
        }
        long n = log.lines().filter(l -> l.contains("written and flushed")).map(l -> Instant.parse(l.substring(0, l.indexOf(' '))))
                .filter(t -> !t.isBefore(from) && t.isBefore(to)).count();
        double seconds = Math.max(0.001, Duration.between(from, to).toMillis() / 1000.0);
        return n / seconds;
    }

    /** A JVM of the pod {@code uid} whose command line contains {@code needle}, seen from the host. */
    static Optional<ProcessHandle> processInPod(String uid, String needle) {
        String podCgroup = "pod" + uid;
        return ProcessHandle.allProcesses()
                .filter(p -> p.info().commandLine().orElse("").contains(needle))
                .filter(p -> read(Path.of("/proc", Long.toString(p.pid()), "cgroup")).contains(podCgroup))
                .findFirst();
    }

    static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "";
        }
    }

    // --- waiting ---

    /** Set when a step failed: the later steps build on it, so they are skipped rather than time out again. */
    static volatile boolean broken;

    @BeforeEach
    void skipAfterAFailedStep() {
        Assumptions.assumeFalse(broken, "an earlier step failed");
    }

    static Kubectl kubectl() {
        return new Kubectl(cluster.kubeconfig());
    }

    static boolean isTrue(List<Condition> conditions, String type) {
        return conditions != null && conditions.stream().anyMatch(c -> type.equals(c.getType()) && "True".equals(c.getStatus()));
    }

    static void await(String what, BooleanSupplier condition) {
        Instant deadline = Instant.now().plus(WAIT);
        while (true) {
            try {
                if (condition.getAsBoolean()) return;
            } catch (NullPointerException e) {
                // an object or its status is not there yet
            }
            if (Instant.now().isAfter(deadline)) {
                broken = true;
                throw new AssertionError("timed out after " + WAIT.toSeconds() + " s waiting for " + what + "\n" + diagnostics());
            }
            try {
                Thread.sleep(250);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
    }

    static String diagnostics() {
        StringBuilder b = new StringBuilder();
        FarMemoryPool p = pool();
        b.append("pool: ").append(p == null || p.getStatus() == null ? "(none)" : p.getStatus().toString()).append('\n');
        for (String name : List.of(APP_CLAIM, JVM_CLAIM)) {
            FarMemoryClaim c = claim(name);
            b.append("claim ").append(name).append(": ").append(c == null ? "(none)" : kubectl().run("get", "farmemoryclaim", name, "-n", APPS, "-o", "yaml").out()).append('\n');
        }
        for (MemoryNode m : memoryNodes()) {
            b.append("memory node ").append(m.getMetadata().getName()).append(" on ").append(m.getSpec().nodeName).append(": ")
                    .append(m.getStatus() == null ? "(no status)" : m.getStatus().phase).append('\n');
        }
        for (String ns : List.of(NS, APPS)) {
            for (Pod pod : admin.pods().inNamespace(ns).list().getItems()) {
                b.append("pod ").append(ns).append('/').append(pod.getMetadata().getName()).append(" on ").append(pod.getSpec().getNodeName())
                        .append(' ').append(pod.getStatus().getPhase()).append('\n');
                for (Container c : pod.getSpec().getContainers()) {
                    List<String> lines = kubectl().logs(ns, pod.getMetadata().getName(), c.getName()).lines().filter(l -> !l.startsWith("\tat ")).toList();
                    b.append("  [").append(c.getName()).append("] kubectl logs:\n");
                    lines.subList(Math.max(0, lines.size() - 12), lines.size()).forEach(l -> b.append("  | ").append(l).append('\n'));
                }
            }
        }
        return b.toString();
    }
}
