package dev.farmem.e2e.operator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.client.FarLongArray;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.common.binding.Binding;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.MemoryNode;
import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;
import dev.farmem.operator.OperatorMain;
import dev.farmem.operator.claim.BindingSecret;
import dev.farmem.operator.pool.AgentDefaults;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Moves of a node's slabs on real nodes, one pool for the three tests, in order:
 * <ol>
 * <li>{@code kubectl drain} of a node whose agent holds a claim's slabs: the pool's PodDisruptionBudget works (its
 *     status is computed, no sync error) and refuses the agent's eviction while any claim names it, the MemoryNode
 *     says why it drains, re-replication moves its slabs to another node, then the drain completes, every acknowledged
 *     write reads back and the claim is back to its replication. A deleted claim's binding Secret is gone.</li>
 * <li>A pool scaled down ({@code maxNodes} lowered): the memory node that is no longer wanted moves its slabs, then
 *     its agent goes; every write reads back.</li>
 * <li>A move asked for by hand ({@code farmem.io/move-slabs}) of a node holding a 256 MiB claim's slabs: the copy
 *     rate (FIGURE), and once the move is over the annotation is gone and the memory node stays.</li>
 * </ol>
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class DrainIT {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final String NS = "farmem-system";
    static final Duration WAIT = Duration.ofSeconds(180);
    static final String MOVE = "farmem.io/move-slabs";

    @RegisterExtension
    static ControlPlaneExtension cluster = ControlPlaneExtension.withNodes(3);

    static KubernetesClient client;
    static Kubectl kubectl;
    static OperatorMain operator;

    @BeforeAll
    static void startTheOperatorWithAPool() throws IOException {
        client = cluster.client();
        kubectl = cluster.kubectl();
        kubectl.run("apply", "-f", ROOT.resolve("crds").toString()).check();
        kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "crd/farmemorypools.farmem.io", "crd/farmemoryclaims.farmem.io",
                "crd/memorynodes.farmem.io").check();
        operator = new OperatorMain(new OperatorMain.Settings(NS, new InetSocketAddress("127.0.0.1", 0), "farmem-agent", AgentDefaults.BUILT_IN, true,
                "drain-operator", false), client);
        kubectl.run("apply", "-f", ROOT.resolve("examples/agent-rbac.yaml").toString()).check();
        // examples/pool.yaml with 512 MiB per node: a node's share of a 256 MiB claim at replication 2 fits on the others.
        kubectl.runWithInput(Files.readString(ROOT.resolve("examples/pool.yaml")).replace("perNodeBytes: 268435456", "perNodeBytes: 536870912"),
                "apply", "-f", "-").check();
        awaitThreeAgents();
    }

    /** The pool Ready with three memory nodes Ready that take slabs (none draining or marked to move). */
    static void awaitThreeAgents() {
        await("pool rack-a Ready with 3 memory nodes", () -> {
            FarMemoryPool p = pool();
            List<MemoryNode> ready = client.resources(MemoryNode.class).withLabel(MemoryNode.POOL_LABEL, "rack-a").list().getItems().stream()
                    .filter(m -> m.getStatus() != null && "Ready".equals(m.getStatus().phase) && m.getStatus().draining == null
                            && (m.getMetadata().getAnnotations() == null || !m.getMetadata().getAnnotations().containsKey(MOVE)))
                    .toList();
            return p != null && p.getStatus() != null && isTrue(p.getStatus().conditions, "Ready") && ready.size() == 3;
        });
    }

    /**
     * Leaves the shared cluster as it found it: the pool (its agents, memory nodes and budget) and the agents'
     * ServiceAccount go, with the operator still running to finish the pool's deletion. The next suite on this
     * cluster (OperatorEndToEndIT) starts from a pool-less namespace without the agents' ServiceAccount.
     */
    @AfterAll
    static void removeThePoolThenStopTheOperator() {
        try {
            if (kubectl != null) {
                kubectl.run("delete", "farmemoryclaim", "held", "spread", "-n", "default", "--ignore-not-found", "--timeout=60s");
                kubectl.run("delete", "farmemorypool", "rack-a", "--ignore-not-found", "--timeout=120s");
                await("pool rack-a, its memory nodes and agents gone", () -> pool() == null
                        && client.resources(MemoryNode.class).withLabel(MemoryNode.POOL_LABEL, "rack-a").list().getItems().isEmpty()
                        && client.pods().inNamespace(NS).withLabel(MemoryNode.POOL_LABEL, "rack-a").list().getItems().isEmpty());
                // Not the whole of examples/agent-rbac.yaml: deleting its Namespace would race the next suite's operator.
                kubectl.run("delete", "serviceaccount", "farmem-agent", "-n", NS, "--ignore-not-found");
            }
        } finally {
            if (operator != null) operator.close();
        }
    }

    @Test
    @Order(1)
    void aDrainWaitsForTheAgentsSlabsToMoveThenCompletesAndEveryWriteReadsBack() throws Exception {
        kubectl.runWithInput("apiVersion: farmem.io/v1alpha1\nkind: FarMemoryClaim\nmetadata: {name: held, namespace: default}\n"
                + "spec: {pool: rack-a, sizeBytes: 67108864, replication: 2}\n", "apply", "-f", "-").check();
        await("claim held Bound", () -> claim() != null && claim().getStatus() != null && FarMemoryClaimStatus.BOUND.equals(claim().getStatus().phase)
                && bindingSecret() != null);
        write(BindingSecret.read(bindingSecret()), 11);

        String memoryNode = claim().getStatus().extents.get(0).replicas.get(0).node;
        String node = client.resources(MemoryNode.class).withName(memoryNode).get().getSpec().nodeName;
        // The budget is computed (no sync error: its integer minAvailable needs no scale subresource) and allows no disruption.
        await("the pool's disruption budget computed over its 3 agents", () -> {
            PodDisruptionBudget b = budget();
            return b != null && b.getStatus() != null && Objects.equals(b.getStatus().getObservedGeneration(), b.getMetadata().getGeneration())
                    && b.getStatus().getDesiredHealthy() == 3 && b.getStatus().getCurrentHealthy() == 3;
        });
        PodDisruptionBudget guard = budget();
        System.out.println("BUDGET: minAvailable " + guard.getSpec().getMinAvailable() + ", status " + guard.getStatus());
        assertThat(guard.getStatus().getDisruptionsAllowed()).isZero();
        assertThat(guard.getStatus().getExpectedPods()).isEqualTo(3);
        assertThat(guard.getStatus().getConditions()).as("the disruption controller's conditions").noneMatch(c -> "SyncFailed".equals(c.getReason()))
                .anySatisfy(c -> {
                    assertThat(c.getType()).isEqualTo("DisruptionAllowed");
                    assertThat(c.getStatus()).isEqualTo("False");
                    assertThat(c.getReason()).isEqualTo("InsufficientPods");
                });
        assertThat(client.pods().inNamespace(NS).withName(memoryNode).evict()).as("the eviction API refuses an agent whose slabs have not moved").isFalse();
        assertThat(client.pods().inNamespace(NS).withName(memoryNode).get().getMetadata().getDeletionTimestamp()).isNull();

        Instant start = Instant.now();
        CompletableFuture<Kubectl.Result> drain = CompletableFuture.supplyAsync(
                () -> kubectl.run("drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=600s"));
        // While any claim names the memory node, its agent must stand: the budget refuses its eviction.
        boolean sawDraining = false;
        while (!drain.isDone()) {
            boolean named = claimNames(memoryNode);
            Pod agent = client.pods().inNamespace(NS).withName(memoryNode).get();
            if (named) assertThat(agent != null && agent.getMetadata().getDeletionTimestamp() == null)
                    .as("the agent of %s stands while a claim holds slabs there", memoryNode).isTrue();
            MemoryNode m = client.resources(MemoryNode.class).withName(memoryNode).get();
            if (m != null && m.getStatus() != null && m.getStatus().draining != null && !sawDraining) {
                sawDraining = true;
                System.out.println("DRAINING: " + m.getStatus().draining);
            }
            Thread.sleep(200);
        }
        Kubectl.Result drained = drain.get();
        System.out.println("DRAIN: exit " + drained.exitCode() + "\n" + drained.err().strip());
        assertThat(drained.exitCode()).as("the drain completes once the slabs moved").isZero();
        System.out.printf("FIGURE kubectl drain of a node holding 64 MiB x2 replicas' slabs -> done: %.1f s%n",
                Duration.between(start, Instant.now()).toMillis() / 1000.0);
        assertThat(sawDraining).as("the MemoryNode said why it drained").isTrue();

        await("claim held back to replication 2, off " + memoryNode, () -> {
            FarMemoryClaim c = claim();
            return FarMemoryClaimStatus.BOUND.equals(c.getStatus().phase) && !claimNames(memoryNode) && c.getStatus().extents.stream()
                    .allMatch(e -> e.replicas.size() == 2 && e.replicas.stream().noneMatch(r -> Boolean.TRUE.equals(r.filling)));
        });
        await("the binding names only the new replicas", () -> {
            Binding b = BindingSecret.read(bindingSecret());
            return b != null && !b.nodes().containsKey(memoryNode);
        });
        check(BindingSecret.read(bindingSecret()), 11); // every acknowledged write reads back from the new replicas
        await("memory node " + memoryNode + " retired", () -> client.resources(MemoryNode.class).withName(memoryNode).get() == null);

        kubectl.run("delete", "farmemoryclaim", "held", "-n", "default", "--timeout=60s").check();
        await("the deleted claim's binding Secret gone", () -> bindingSecret() == null);
        kubectl.run("uncordon", node).check();
    }

    @Test
    @Order(2)
    void aPoolScaledDownMovesTheLeavingNodesSlabsBeforeItsAgentGoes() throws Exception {
        awaitThreeAgents();
        // Two claims of one extent x 2 replicas each: the second goes to the node the first left free (most free slabs
        // first), so every node holds slabs, whichever one the pool lets go.
        List<String> claims = List.of("held", "spread");
        for (String name : claims) {
            kubectl.runWithInput("apiVersion: farmem.io/v1alpha1\nkind: FarMemoryClaim\nmetadata: {name: " + name + ", namespace: default}\n"
                    + "spec: {pool: rack-a, sizeBytes: 100663296, replication: 2}\n", "apply", "-f", "-").check();
            await("claim " + name + " Bound", () -> claim(name) != null && claim(name).getStatus() != null
                    && FarMemoryClaimStatus.BOUND.equals(claim(name).getStatus().phase) && bindingSecret(name) != null);
            write(BindingSecret.read(bindingSecret(name)), 13);
        }
        List<String> before = memoryNodes();
        assertThat(before).as("every memory node holds slabs").hasSize(3).allMatch(m -> claims.stream().anyMatch(c -> claimNames(c, m)));

        kubectl.run("patch", "farmemorypool", "rack-a", "--type=merge", "-p", "{\"spec\":{\"capacity\":{\"maxNodes\":2}}}").check();
        String[] leaving = new String[1];
        await("a memory node drains for the scale-down", () -> {
            for (String m : before) {
                MemoryNode n = client.resources(MemoryNode.class).withName(m).get();
                if (n == null || n.getStatus() != null && n.getStatus().draining != null) leaving[0] = m;
            }
            return leaving[0] != null;
        });
        System.out.println("SCALE-DOWN: " + leaving[0] + " leaves; its agent stands while a claim names it");
        await("memory node " + leaving[0] + " retired and its agent gone once no claim names it", () -> {
            boolean named = claims.stream().anyMatch(c -> claimNames(c, leaving[0]));
            Pod agent = client.pods().inNamespace(NS).withName(leaving[0]).get();
            if (named) assertThat(agent).as("the agent of %s while a claim holds slabs there", leaving[0]).isNotNull();
            return !named && client.resources(MemoryNode.class).withName(leaving[0]).get() == null && agent == null;
        });
        for (String name : claims) {
            await("claim " + name + " back to replication 2 on the 2 nodes left, in its binding too", () -> {
                FarMemoryClaim c = claim(name);
                Binding b = BindingSecret.read(bindingSecret(name));
                return FarMemoryClaimStatus.BOUND.equals(c.getStatus().phase) && c.getStatus().extents.stream()
                        .allMatch(e -> e.replicas.size() == 2 && e.replicas.stream().noneMatch(r -> Boolean.TRUE.equals(r.filling)))
                        && b != null && !b.nodes().containsKey(leaving[0]) && b.extents().stream().flatMap(e -> e.replicas().stream())
                        .noneMatch(Binding.Replica::filling);
            });
            check(BindingSecret.read(bindingSecret(name)), 13);
            kubectl.run("delete", "farmemoryclaim", name, "-n", "default", "--timeout=60s").check();
        }
        kubectl.run("patch", "farmemorypool", "rack-a", "--type=merge", "-p", "{\"spec\":{\"capacity\":{\"maxNodes\":3}}}").check();
    }

    @Test
    @Order(3)
    void aMoveAskedForByHandCopiesTheNodesShareOfA256MiBClaimThenTheMarkGoesAndTheNodeStays() throws Exception {
        awaitThreeAgents();
        kubectl.runWithInput("apiVersion: farmem.io/v1alpha1\nkind: FarMemoryClaim\nmetadata: {name: held, namespace: default}\n"
                + "spec: {pool: rack-a, sizeBytes: 268435456, replication: 2}\n", "apply", "-f", "-").check();
        await("claim held Bound", () -> claim() != null && claim().getStatus() != null && FarMemoryClaimStatus.BOUND.equals(claim().getStatus().phase)
                && bindingSecret() != null);
        write(BindingSecret.read(bindingSecret()), 17);
        FarMemoryClaimStatus bound = claim().getStatus();
        String memoryNode = bound.extents.get(0).replicas.get(0).node;
        long bytes = bound.extents.stream().filter(e -> e.replicas.stream().anyMatch(r -> memoryNode.equals(r.node)))
                .mapToLong(e -> e.count * bound.slabSizeBytes).sum();

        Instant start = Instant.now();
        kubectl.run("annotate", "memorynode", memoryNode, MOVE + "=true").check();
        Instant copying = null;
        Instant deadline = start.plus(WAIT);
        while (true) { // polled every 50 ms, not await's 500 ms: this is the figure
            FarMemoryClaim c = claim();
            boolean filling = c.getStatus().extents.stream().anyMatch(e -> e.replicas.stream().anyMatch(r -> Boolean.TRUE.equals(r.filling)));
            if (filling && copying == null) copying = Instant.now();
            if (!filling && !claimNames(memoryNode)) break;
            assertThat(Instant.now()).as("the move of %s done within %s", memoryNode, WAIT).isBefore(deadline);
            Thread.sleep(50);
        }
        Instant done = Instant.now();
        double seconds = Duration.between(start, done).toMillis() / 1000.0;
        double mib = bytes / (double) (1 << 20);
        System.out.printf("FIGURE move of %.0f MiB (one node's replicas of a 256 MiB claim at replication 2), annotation -> claim back to"
                + " replication 2 off the node: %.2f s = %.1f MiB/s = %.2f s per GiB (first filling status after %.2f s)%n", mib, seconds, mib / seconds,
                seconds * 1024 / mib, copying == null ? Double.NaN : Duration.between(start, copying).toMillis() / 1000.0);

        await("the move's mark gone, the memory node still there", () -> {
            MemoryNode m = client.resources(MemoryNode.class).withName(memoryNode).get();
            return m != null && (m.getMetadata().getAnnotations() == null || !m.getMetadata().getAnnotations().containsKey(MOVE));
        });
        MemoryNode stays = client.resources(MemoryNode.class).withName(memoryNode).get();
        assertThat(stays.getStatus().phase).isEqualTo("Ready");
        assertThat(stays.getStatus().draining).as("it takes slabs again").isNull();
        await("the binding names only the new replicas", () -> {
            Binding b = BindingSecret.read(bindingSecret());
            return b != null && !b.nodes().containsKey(memoryNode) && b.extents().stream().flatMap(e -> e.replicas().stream())
                    .noneMatch(Binding.Replica::filling);
        });
        check(BindingSecret.read(bindingSecret()), 17);
        kubectl.run("delete", "farmemoryclaim", "held", "-n", "default", "--timeout=60s").check();
    }

    static List<String> memoryNodes() {
        return client.resources(MemoryNode.class).withLabel(MemoryNode.POOL_LABEL, "rack-a").list().getItems().stream()
                .map(m -> m.getMetadata().getName()).toList();
    }

    static PodDisruptionBudget budget() {
        return client.policy().v1().podDisruptionBudget().inNamespace(NS).withName("farmem-pool-rack-a-agents").get();
    }

    static boolean claimNames(String memoryNode) {
        return claimNames("held", memoryNode);
    }

    static boolean claimNames(String claim, String memoryNode) {
        FarMemoryClaim c = claim(claim);
        return c != null && c.getStatus() != null && c.getStatus().extents != null
                && c.getStatus().extents.stream().anyMatch(e -> e.replicas.stream().anyMatch(r -> memoryNode.equals(r.node)));
    }

    static void write(Binding binding, long factor) {
        try (FarMemory mem = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, binding.sizeBytes() / 8);
            for (long i = 0; i < longs.length(); i += 4099) longs.set(i, i * factor);
            mem.flush();
        }
    }

    /** A client with an empty cache: every value comes from the agents. */
    static void check(Binding binding, long factor) {
        try (FarMemory mem = FarMemory.open(binding, FarMemoryOptions.defaults().cacheBytes(1L << 20))) {
            FarLongArray longs = mem.longArray(0, binding.sizeBytes() / 8);
            for (long i = 0; i < longs.length(); i += 4099) assertThat(longs.get(i)).isEqualTo(i * factor);
        }
    }

    static FarMemoryPool pool() {
        return client.resources(FarMemoryPool.class).withName("rack-a").get();
    }

    static FarMemoryClaim claim() {
        return claim("held");
    }

    static FarMemoryClaim claim(String name) {
        return client.resources(FarMemoryClaim.class).inNamespace("default").withName(name).get();
    }

    static Secret bindingSecret() {
        return bindingSecret("held");
    }

    static Secret bindingSecret(String claim) {
        return client.secrets().inNamespace("default").withName(claim + "-binding").get();
    }

    static boolean isTrue(List<Condition> conditions, String type) {
        return conditions != null && conditions.stream().anyMatch(c -> type.equals(c.getType()) && "True".equals(c.getStatus()));
    }

    static void await(String what, BooleanSupplier condition) {
        Instant deadline = Instant.now().plus(WAIT);
        while (!condition.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) throw new AssertionError("timed out after " + WAIT.toSeconds() + " s waiting for " + what);
            try {
                Thread.sleep(500);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what);
            }
        }
    }
}
