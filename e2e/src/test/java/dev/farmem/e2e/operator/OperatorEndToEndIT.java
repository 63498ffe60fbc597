package dev.farmem.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.client.FarLongArray;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;
import dev.farmem.e2e.harness.node.NodeSpec;
import dev.farmem.operator.OperatorMain;
import dev.farmem.operator.claim.BindingSecret;
import dev.farmem.operator.pool.AgentDefaults;
import dev.farmem.common.binding.Binding;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The operator's proof, in order, on the local cluster with 4 real nodes (zones a, b, c, a): CRDs
 * and examples applied with kubectl as a user would, the operator in this JVM, agents run by the
 * nodes' kubelets and containerd from the agent image, a real client writing and reading through them
 * at the agents' pod IPs.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class OperatorEndToEndIT {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final String NS = "farmem-system";
    static final Duration WAIT = Duration.ofSeconds(180);

    @RegisterExtension
    static ControlPlaneExtension cluster = ControlPlaneExtension.withNodes(4);

    /** A failed step shows the agents' logs and stops the steps after it. */
    @RegisterExtension
    static org.junit.jupiter.api.extension.TestWatcher onFailure = new org.junit.jupiter.api.extension.TestWatcher() {
        @Override
        public void testFailed(org.junit.jupiter.api.extension.ExtensionContext context, Throwable cause) {
            broken = true;
            printAgentLogs();
        }
    };

    static KubernetesClient client;
    static Kubectl kubectl;
    static OperatorMain operator;

    @BeforeAll
    static void installCrdsAndStartTheOperator() throws IOException {
        client = cluster.client();
        kubectl = cluster.kubectl();
        kubectl.run("apply", "-f", ROOT.resolve("crds").toString()).check();
        kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "crd/farmemorypools.farmem.io", "crd/farmemoryclaims.farmem.io",
                "crd/memorynodes.farmem.io").check();
        // examples/agent-rbac.yaml is applied by a step, as a new user would once the pool says it is missing.
        operator = startOperator("operator-1"); // it creates its namespace
        // Agent pods of TCP pools meet the restricted Pod Security Standard: the API server's admission checks it.
        kubectl.run("label", "--overwrite", "namespace", NS, "pod-security.kubernetes.io/enforce=restricted").check();
    }

    @AfterAll
    static void stopTheOperator() {
        if (operator != null) operator.close();
    }

    static OperatorMain startOperator(String identity) throws IOException {
        return new OperatorMain(new OperatorMain.Settings(NS, new InetSocketAddress("127.0.0.1", 0), "farmem-agent", AgentDefaults.BUILT_IN, true,
                identity, false),
                client);
    }

    @Test
    @Order(1)
    void invalidResourcesAreRefusedWithMessagesAUserUnderstands() {
        String badPool = """
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryPool
                metadata: {name: bad-pool}
                spec:
                  capacity: {perNodeBytes: 100000000}
                  slabSizeBytes: 16777216
                """;
        String tooManyCopies = """
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryClaim
                metadata: {name: bad-claim, namespace: default}
                spec: {pool: rack-a, sizeBytes: 67108864, replication: 4}
                """;
        String oddSize = """
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryClaim
                metadata: {name: bad-claim, namespace: default}
                spec: {pool: rack-a, sizeBytes: 5000000}
                """;
        assertRefused(badPool, "capacity.perNodeBytes must be a multiple of slabSizeBytes");
        assertRefused(tooManyCopies, "spec.replication: Invalid value: 4: spec.replication in body should be less than or equal to 3");
        assertRefused(oddSize, "sizeBytes must be a multiple of 1 MiB (1048576)");
    }

    @Test
    @Order(2)
    void aSpecOnlyTheOperatorCanJudgeBecomesAConditionAndAnEventNotALoop() {
        String contradictory = """
                apiVersion: farmem.io/v1alpha1
                kind: FarMemoryPool
                metadata: {name: odd-pool}
                spec:
                  capacity: {perNodeBytes: 268435456, minNodes: 3, maxNodes: 2}
                  slabSizeBytes: 16777216
                """;
        kubectl.runWithInput(contradictory, "apply", "-f", "-").check();
        await("odd-pool reports InvalidSpec", () -> {
            FarMemoryPool p = client.resources(FarMemoryPool.class).withName("odd-pool").get();
            Condition ready = condition(p.getStatus().conditions, "Ready");
            return ready != null && "InvalidSpec".equals(ready.getReason()) && ready.getMessage().contains("minNodes (3) is larger than capacity.maxNodes (2)");
        });
        await("a Warning Event", () -> client.v1().events().inNamespace("default").list().getItems().stream()
                .anyMatch(e -> "InvalidSpec".equals(e.getReason()) && "odd-pool".equals(e.getInvolvedObject().getName())));
        String described = kubectl.run("describe", "farmemorypool", "odd-pool").check().out();
        System.out.println("DESCRIBE odd-pool (events):\n" + described.substring(Math.max(0, described.indexOf("Events:"))));
        assertThat(client.resources(MemoryNode.class).withLabel(MemoryNode.POOL_LABEL, "odd-pool").list().getItems()).isEmpty();
        kubectl.run("delete", "farmemorypool", "odd-pool").check();
    }

    @Test
    @Order(3)
    void withoutTheAgentsServiceAccountThePoolSaysWhatIsMissingAndHowToFixIt() {
        kubectl.run("apply", "-f", ROOT.resolve("examples/pool.yaml").toString()).check();
        await("rack-a says the agents' ServiceAccount is missing", () -> {
            Condition degraded = condition(pool().getStatus().conditions, "Degraded");
            return degraded != null && "AgentServiceAccountMissing".equals(degraded.getReason());
        });
        Condition degraded = condition(pool().getStatus().conditions, "Degraded");
        System.out.println("DEGRADED (no agent ServiceAccount): " + degraded.getMessage());
        assertThat(degraded.getStatus()).isEqualTo("True");
        assertThat(degraded.getMessage()).contains("ServiceAccount farmem-system/farmem-agent does not exist")
                .contains("kubectl apply -f examples/agent-rbac.yaml");
        assertThat(condition(pool().getStatus().conditions, "Ready").getStatus()).isEqualTo("False");
        assertThat(pool().getStatus().observedGeneration).isEqualTo(pool().getMetadata().getGeneration());
        await("a Warning Event", () -> client.v1().events().inNamespace("default").list().getItems().stream()
                .anyMatch(e -> "AgentServiceAccountMissing".equals(e.getReason()) && "rack-a".equals(e.getInvolvedObject().getName())));
        assertThat(agentPods()).isEmpty();

        // The fix the pool names: the next steps see the pool become Ready without anything else done.
        kubectl.run("apply", "-f", ROOT.resolve("examples/agent-rbac.yaml").toString()).check();
    }

    @Test
    @Order(4)
    void thePoolPlacesOneAgentPerChosenNodeAndBecomesReady() {
        Instant start = Instant.now();
        kubectl.run("apply", "-f", ROOT.resolve("examples/pool.yaml").toString()).check();
        await("pool rack-a Ready", () -> isTrue(pool().getStatus() == null ? null : pool().getStatus().conditions, "Ready"));
        System.out.printf("FIGURE pool apply -> Ready (3 nodes): %.1f s%n", Duration.between(start, Instant.now()).toMillis() / 1000.0);
        printLogsOfLostAgents();

        List<MemoryNode> nodes = memoryNodes();
        assertThat(nodes).hasSize(3);
        assertThat(nodes).allSatisfy(m -> {
            assertThat(m.getStatus().phase).isEqualTo(MemoryNodeStatus.READY);
            assertThat(m.getStatus().endpoint).startsWith(cluster.isLocal() ? "10." + cluster.local().controlPlane().network().block() + "." : "")
                    .endsWith(":7070");
            assertThat(m.getStatus().incarnation).as("the agent process, which tokens name").matches("[0-9a-f]{16}");
            assertThat(m.getStatus().slabs).isEqualTo(16);
        });
        assertThat(nodes.stream().map(m -> m.getSpec().zone).distinct()).as("spread over the three zones").hasSize(3);
        assertThat(pool().getStatus().bytesTotal).isEqualTo(3L * (256 << 20));
        assertThat(pool().getStatus().observedGeneration).isEqualTo(pool().getMetadata().getGeneration());
        String table = kubectl.run("get", "farmemorypools").check().out();
        System.out.println(table);
        assertThat(table).contains("READY").contains("3/3").contains("768Mi");

        // Settled: reconciles keep running every few seconds but write nothing, so the object does not change.
        String version = pool().getMetadata().getResourceVersion();
        sleep(Duration.ofSeconds(7));
        assertThat(pool().getMetadata().getResourceVersion()).as("status patched only when it changed").isEqualTo(version);
    }

    @Test
    @Order(5)
    void aClaimIsBoundAndAClientWritesAndReadsThroughTheAgents() throws Exception {
        Instant start = Instant.now();
        kubectl.run("apply", "-f", ROOT.resolve("examples/claim.yaml").toString()).check();
        await("claim demo-cache Bound", () -> claim("demo-cache") != null && claim("demo-cache").getStatus() != null
                && FarMemoryClaimStatus.BOUND.equals(claim("demo-cache").getStatus().phase) && bindingSecret("demo-cache") != null);
        System.out.printf("FIGURE claim apply -> Bound with binding Secret: %.2f s%n", Duration.between(start, Instant.now()).toMillis() / 1000.0);
        String table = kubectl.run("get", "farmemoryclaims", "-n", "default").check().out();
        System.out.println(table);
        assertThat(table).contains("rack-a").contains("64Mi").contains("Bound");

        FarMemoryClaimStatus status = claim("demo-cache").getStatus();
        Binding binding = BindingSecret.read(bindingSecret("demo-cache"));
        assertThat(binding).isNotNull();
        assertThat(binding.slabCount()).isEqualTo(4);
        for (Binding.Extent e : binding.extents()) {
            Set<String> zones = new HashSet<>();
            for (Binding.Replica r : e.replicas()) zones.add(client.resources(MemoryNode.class).withName(r.node()).get().getSpec().zone);
            assertThat(zones).as("replicas of an extent in distinct zones").hasSize(2);
        }
        assertThat(status.extents).hasSize(binding.extents().size());

        writeAndCheck(binding, 7);
        assertThat(pool().getStatus().bytesAllocated).isEqualTo(2L * (64 << 20));
        var refused = kubectl.run("patch", "farmemoryclaim", "demo-cache", "-n", "default", "--type=merge", "-p", "{\"spec\":{\"sizeBytes\":134217728}}");
        System.out.println("REFUSED (immutable claim): " + refused.err().strip());
        assertThat(refused.exitCode()).isNotZero();
        assertThat(refused.err()).contains("the spec of a FarMemoryClaim cannot change after creation");

        String metrics = get("http://127.0.0.1:" + operator.metricsPort() + "/metrics");
        assertThat(metrics).contains("farmem_operator_pools 1.0").contains("farmem_operator_pool_nodes_ready{pool=\"rack-a\",} 3.0")
                .contains("farmem_operator_claims{pool=\"rack-a\",phase=\"Bound\",} 1.0").contains("farmem_operator_reconciles_total{controller=\"farmemorypool\",}")
                .contains("farmem_operator_reconcile_duration_seconds_bucket");
        assertThat(get("http://127.0.0.1:" + operator.metricsPort() + "/healthz")).startsWith("ok");
    }

    @Test
    @Order(6)
    void aStoppedNodeIsShownLostAndReplacedWhileTheClaimKeepsItsData() throws Exception {
        Binding binding = BindingSecret.read(bindingSecret("demo-cache"));
        String victim = binding.extents().get(0).replicas().get(0).node();
        String k8sNode = client.resources(MemoryNode.class).withName(victim).get().getSpec().nodeName;
        Instant start = Instant.now();
        cluster.stopNode(k8sNode);

        await("memory node " + victim + " Lost", () -> MemoryNodeStatus.LOST.equals(client.resources(MemoryNode.class).withName(victim).get().getStatus().phase));
        await("pool Degraded", () -> isTrue(pool().getStatus().conditions, "Degraded"));
        System.out.printf("FIGURE node stopped -> MemoryNode Lost: %.1f s%n", Duration.between(start, Instant.now()).toMillis() / 1000.0);
        Instant lostAt = Instant.now();
        assertThat(condition(pool().getStatus().conditions, "Degraded").getMessage()).contains(victim);
        await("claim reports the lost replica", () -> isTrue(claim("demo-cache").getStatus().conditions, "Degraded"));

        // The claim heals: each replica on the lost node is replaced by a new one, filled agent to agent.
        long lostBytes = binding.extents().stream().filter(e -> e.replicas().stream().anyMatch(r -> r.node().equals(victim)))
                .mapToLong(e -> e.count() * binding.slabSize()).sum();
        await("claim back to its replication", () -> {
            FarMemoryClaimStatus s = claim("demo-cache").getStatus();
            return !isTrue(s.conditions, "Degraded") && s.extents.stream().allMatch(e -> e.replicas.size() == 2
                    && e.replicas.stream().noneMatch(r -> r.node.equals(victim) || Boolean.TRUE.equals(r.filling)));
        });
        double healSeconds = Duration.between(lostAt, Instant.now()).toMillis() / 1000.0;
        System.out.printf("FIGURE MemoryNode Lost -> claim back to replication 2: %.1f s for %d MiB of lost replicas (%.0f s per GiB; fixed costs dominate at this size)%n",
                healSeconds, lostBytes >> 20, healSeconds / (lostBytes / (double) (1L << 30)));
        System.out.println(kubectl.run("get", "events", "-n", "default", "--field-selector", "involvedObject.name=demo-cache").out());
        await("the binding Secret names the new replicas, complete", () -> {
            Binding h = BindingSecret.read(bindingSecret("demo-cache"));
            return h != null && !h.nodes().containsKey(victim) && h.extents().stream().allMatch(e -> e.replicas().size() == 2
                    && e.replicas().stream().noneMatch(Binding.Replica::filling));
        });
        Binding healed = BindingSecret.read(bindingSecret("demo-cache"));
        assertThat(healed.epoch()).isGreaterThan(binding.epoch());
        try (FarMemory mem = FarMemory.open(healed, FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, (64L << 20) / 8);
            for (long i = 0; i < longs.length(); i += 4099) assertThat(longs.get(i)).as("long %d after the claim healed", i).isEqualTo(i * 7);
        }
        // The new replicas alone hold the data: a binding of only the replicas that did not exist before the loss.
        Set<String> before = new HashSet<>();
        binding.extents().forEach(e -> e.replicas().forEach(r -> before.add(r.node() + "/" + (r.firstSlab()))));
        for (Binding.Extent e : healed.extents()) {
            for (Binding.Replica r : e.replicas()) {
                if (before.contains(r.node() + "/" + r.firstSlab())) continue;
                Binding alone = new Binding(healed.version(), healed.pool(), healed.claim(), healed.claimUid(), healed.epoch(), healed.transport(),
                        healed.sizeBytes(), healed.slabSize(), healed.blockSize(), healed.nodes(),
                        healed.extents().stream().map(x -> new Binding.Extent(x.firstSlab(), x.count(), List.of(x == e ? r : x.replicas().get(0)))).toList())
                        .validate();
                try (FarMemory mem = FarMemory.open(alone, FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
                    FarLongArray longs = mem.longArray(0, (64L << 20) / 8);
                    long first = e.firstSlab() * healed.slabSize() / 8;
                    long end = (e.firstSlab() + e.count()) * healed.slabSize() / 8;
                    for (long i = (first + 4098) / 4099 * 4099; i < end; i += 4099) {
                        assertThat(longs.get(i)).as("long %d from the new replica on %s alone", i, r.node()).isEqualTo(i * 7);
                    }
                }
            }
        }
        await("a replacement agent Ready on node-4", () -> memoryNodes().stream().anyMatch(m -> "node-4".equals(m.getSpec().nodeName)
                && m.getStatus() != null && MemoryNodeStatus.READY.equals(m.getStatus().phase)));
        await("pool Ready again", () -> isTrue(pool().getStatus().conditions, "Ready") && pool().getStatus().nodesReady == 3);
        System.out.printf("FIGURE node stopped -> replacement Ready: %.1f s%n", Duration.between(start, Instant.now()).toMillis() / 1000.0);
        assertThat(claim("demo-cache").getStatus().phase).isEqualTo(FarMemoryClaimStatus.BOUND);

        if (!cluster.isLocal()) return;

        // The machine comes back: its node turns Ready again and the pool, given room, puts a new agent on it.
        var labels = client.nodes().withName(k8sNode).get().getMetadata().getLabels();
        cluster.startNode(NodeSpec.of(k8sNode, labels.get(NodeSpec.ZONE_LABEL), labels.get(NodeSpec.RACK_LABEL)));
        kubectl.run("patch", "farmemorypool", "rack-a", "--type=merge", "-p", "{\"spec\":{\"capacity\":{\"maxNodes\":4}}}").check();
        await("a new agent Ready on the rebooted " + k8sNode, () -> memoryNodes().stream().anyMatch(m -> k8sNode.equals(m.getSpec().nodeName)
                && !victim.equals(m.getMetadata().getName()) && m.getStatus() != null && MemoryNodeStatus.READY.equals(m.getStatus().phase)));
        await("pool Ready with 4 nodes", () -> isTrue(pool().getStatus().conditions, "Ready") && "4/4".equals(pool().getStatus().readyNodes));
        System.out.printf("FIGURE node stopped -> rebooted node serving again: %.1f s%n", Duration.between(start, Instant.now()).toMillis() / 1000.0);
        kubectl.run("patch", "farmemorypool", "rack-a", "--type=merge", "-p", "{\"spec\":{\"capacity\":{\"maxNodes\":3}}}").check();
        await("3 agents again", () -> "3/3".equals(pool().getStatus().readyNodes) && isTrue(pool().getStatus().conditions, "Ready"));
        try (FarMemory mem = FarMemory.open(BindingSecret.read(bindingSecret("demo-cache")), FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, (64L << 20) / 8);
            for (long i = 0; i < longs.length(); i += 4099) assertThat(longs.get(i)).as("long %d after the node came back", i).isEqualTo(i * 7);
        }
    }

    @Test
    @Order(7)
    void twoOperatorsNeverHandOutASlabTwiceAndANewLeaderRebuildsTheMap() throws Exception {
        OperatorMain standby = startOperator("operator-2");
        try {
            for (int i = 0; i < 4; i++) kubectl.runWithInput(claimYaml("burst-" + i, 16 << 20, 1 + i % 2), "apply", "-f", "-").check();
            await("burst claims Bound", () -> allBound("burst-0", "burst-1", "burst-2", "burst-3"));
            operator.close();
            operator = standby;
            standby = null;
            for (int i = 4; i < 8; i++) kubectl.runWithInput(claimYaml("burst-" + i, 16 << 20, 1 + i % 2), "apply", "-f", "-").check();
            await("claims made after the leader stopped are Bound by the new leader",
                    () -> allBound("burst-4", "burst-5", "burst-6", "burst-7"));
            Set<String> slabs = new HashSet<>();
            for (FarMemoryClaim c : client.resources(FarMemoryClaim.class).inNamespace("default").list().getItems()) {
                for (FarMemoryClaimStatus.Extent e : c.getStatus().extents) {
                    for (FarMemoryClaimStatus.Replica r : e.replicas) {
                        for (int s = r.firstSlab; s < r.firstSlab + e.count; s++) {
                            assertThat(slabs.add(r.node + "/" + s)).as("slab %d of %s held by two claims", s, r.node).isTrue();
                        }
                    }
                }
            }
            writeAndCheck(BindingSecret.read(bindingSecret("demo-cache")), 7);
        } finally {
            if (standby != null) standby.close();
            for (int i = 0; i < 8; i++) kubectl.run("delete", "farmemoryclaim", "burst-" + i, "-n", "default", "--ignore-not-found");
        }
    }

    @Test
    @Order(8)
    void deletingTheClaimFreesItsSlabs() {
        kubectl.run("delete", "-f", ROOT.resolve("examples/claim.yaml").toString(), "--timeout=60s").check();
        await("claim gone and slabs free", () -> claim("demo-cache") == null && pool().getStatus().bytesAllocated == 0);
        assertThat(bindingSecret("demo-cache")).isNull();
        await("the lost memory node retired once no claim holds slabs on it",
                () -> memoryNodes().stream().noneMatch(m -> MemoryNodeStatus.LOST.equals(m.getStatus() == null ? null : m.getStatus().phase)));
    }

    @Test
    @Order(9)
    void scalingIsAChangeOfTheSpec() {
        kubectl.run("patch", "farmemorypool", "rack-a", "--type=merge", "-p", "{\"spec\":{\"capacity\":{\"maxNodes\":2}}}").check();
        await("2 agents", () -> memoryNodes().size() == 2 && agentPods().size() == 2 && "2/2".equals(pool().getStatus().readyNodes));
        kubectl.run("patch", "farmemorypool", "rack-a", "--type=merge", "-p", "{\"spec\":{\"capacity\":{\"maxNodes\":3}}}").check();
        await("3 agents again", () -> "3/3".equals(pool().getStatus().readyNodes) && isTrue(pool().getStatus().conditions, "Ready"));
        assertThat(pool().getStatus().observedGeneration).isEqualTo(pool().getMetadata().getGeneration());
    }

    @Test
    @Order(10)
    void aPoolWithABoundClaimWaitsForItBeforeItGoes() {
        kubectl.runWithInput(claimYaml("holder", 16 << 20, 1), "apply", "-f", "-").check();
        await("holder Bound", () -> allBound("holder"));
        kubectl.run("delete", "farmemorypool", "rack-a", "--wait=false").check();
        await("pool says why it waits", () -> {
            Condition ready = condition(pool().getStatus().conditions, "Ready");
            return ready != null && "Deleting".equals(ready.getReason()) && ready.getMessage().contains("default/holder");
        });
        assertThat(agentPods()).as("agents keep serving the bound claim").extracting(p -> p.getMetadata().getName()).hasSize(3);

        kubectl.run("delete", "farmemoryclaim", "holder", "-n", "default").check();
        await("pool, memory nodes and agents gone", () -> pool() == null && memoryNodes().isEmpty() && agentPods().isEmpty());
    }

    // --- helpers ---

    /** Set when a step failed: the later steps build on it, so they are skipped rather than time out again. */
    static volatile boolean broken;

    @org.junit.jupiter.api.BeforeEach
    void skipAfterAFailedStep() {
        org.junit.jupiter.api.Assumptions.assumeFalse(broken, "an earlier step failed");
    }

    /** Agents that were replaced on the way: why they exited, from their logs. */
    static void printLogsOfLostAgents() {
        if (!cluster.isLocal()) return;
        for (var e : client.v1().events().inNamespace("default").list().getItems()) {
            if (!"MemoryNodeLost".equals(e.getReason())) continue;
            String memoryNode = e.getMessage().split(" ")[2];
            List<String> lines = kubectl.logs(NS, memoryNode, "agent").lines().toList();
            System.out.println("--- " + e.getMessage() + "; kubectl logs:");
            lines.subList(Math.max(0, lines.size() - 15), lines.size()).forEach(System.out::println);
        }
    }

    /** The end of each agent's log, as kubectl logs shows it. */
    static void printAgentLogs() {
        for (Pod p : client.pods().inNamespace(NS).list().getItems()) {
            List<String> lines = kubectl.logs(NS, p.getMetadata().getName(), "agent").lines().toList();
            System.out.println("--- kubectl logs " + p.getMetadata().getName() + " (" + p.getStatus().getPhase() + ")");
            lines.subList(Math.max(0, lines.size() - 30), lines.size()).forEach(System.out::println);
        }
    }

    static void writeAndCheck(Binding binding, long factor) {
        try (FarMemory mem = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, binding.sizeBytes() / 8);
            for (long i = 0; i < longs.length(); i += 4099) longs.set(i, i * factor);
            mem.flush();
        }
        // A second client has an empty cache: every value comes from the agents.
        try (FarMemory mem = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, binding.sizeBytes() / 8);
            for (long i = 0; i < longs.length(); i += 4099) assertThat(longs.get(i)).isEqualTo(i * factor);
        }
    }

    static void assertRefused(String yaml, String message) {
        Kubectl.Result r = kubectl.runWithInput(yaml, "apply", "-f", "-");
        System.out.println("REFUSED: " + r.err().strip());
        assertThat(r.exitCode()).isNotZero();
        assertThat(r.err()).contains(message);
    }

    static String claimYaml(String name, long size, int replication) {
        return "apiVersion: farmem.io/v1alpha1\nkind: FarMemoryClaim\nmetadata: {name: " + name + ", namespace: default}\n"
                + "spec: {pool: rack-a, sizeBytes: " + size + ", replication: " + replication + "}\n";
    }

    static boolean allBound(String... names) {
        for (String n : names) {
            FarMemoryClaim c = claim(n);
            if (c == null || c.getStatus() == null || !FarMemoryClaimStatus.BOUND.equals(c.getStatus().phase)) return false;
        }
        return true;
    }

    static FarMemoryPool pool() {
        return client.resources(FarMemoryPool.class).withName("rack-a").get();
    }

    static FarMemoryClaim claim(String name) {
        return client.resources(FarMemoryClaim.class).inNamespace("default").withName(name).get();
    }

    static Secret bindingSecret(String claim) {
        return client.secrets().inNamespace("default").withName(claim + "-binding").get();
    }

    static List<MemoryNode> memoryNodes() {
        return client.resources(MemoryNode.class).withLabel(MemoryNode.POOL_LABEL, "rack-a").list().getItems();
    }

    /** Agent pods not being deleted. */
    static List<Pod> agentPods() {
        return client.pods().inNamespace(NS).withLabel(MemoryNode.POOL_LABEL, "rack-a").list().getItems().stream()
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null).toList();
    }

    static Condition condition(List<Condition> conditions, String type) {
        return conditions == null ? null : conditions.stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
    }

    static boolean isTrue(List<Condition> conditions, String type) {
        Condition c = condition(conditions, type);
        return c != null && "True".equals(c.getStatus());
    }

    static void sleep(Duration d) {
        try {
            Thread.sleep(d.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static String get(String url) throws Exception {
        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
        return r.body();
    }

    static void await(String what, BooleanSupplier condition) {
        Instant deadline = Instant.now().plus(WAIT);
        while (true) {
            try {
                if (condition.getAsBoolean()) return;
            } catch (NullPointerException e) {
                // the object or its status is not there yet
            }
            if (Instant.now().isAfter(deadline)) {
                throw new AssertionError("timed out after " + WAIT.toSeconds() + " s waiting for: " + what);
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
    }
}
