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
import io.fabric8.kubernetes.client.KubernetesClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * {@code kubectl drain} of a real node whose agent holds a claim's slabs: the pool's
 * PodDisruptionBudget keeps the agent while any claim names it, the MemoryNode says why it drains,
 * re-replication moves its slabs to another node, then the drain completes, every acknowledged write
 * reads back and the claim is back to its replication. A deleted claim's binding Secret is gone.
 */
class DrainIT {
    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final String NS = "farmem-system";
    static final Duration WAIT = Duration.ofSeconds(180);

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
        kubectl.run("apply", "-f", ROOT.resolve("examples/pool.yaml").toString()).check();
        await("pool rack-a Ready", () -> pool() != null && pool().getStatus() != null && isTrue(pool().getStatus().conditions, "Ready"));
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
                kubectl.run("delete", "farmemoryclaim", "held", "-n", "default", "--ignore-not-found", "--timeout=60s");
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
    void aDrainWaitsForTheAgentsSlabsToMoveThenCompletesAndEveryWriteReadsBack() throws Exception {
        kubectl.runWithInput("apiVersion: farmem.io/v1alpha1\nkind: FarMemoryClaim\nmetadata: {name: held, namespace: default}\n"
                + "spec: {pool: rack-a, sizeBytes: 67108864, replication: 2}\n", "apply", "-f", "-").check();
        await("claim held Bound", () -> claim() != null && claim().getStatus() != null && FarMemoryClaimStatus.BOUND.equals(claim().getStatus().phase)
                && bindingSecret() != null);
        write(BindingSecret.read(bindingSecret()), 11);

        String memoryNode = claim().getStatus().extents.get(0).replicas.get(0).node;
        String node = client.resources(MemoryNode.class).withName(memoryNode).get().getSpec().nodeName;
        await("the pool's disruption budget", () -> client.policy().v1().podDisruptionBudget().inNamespace(NS).withName("farmem-pool-rack-a-agents").get() != null);

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

    static boolean claimNames(String memoryNode) {
        FarMemoryClaim c = claim();
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
        return client.resources(FarMemoryClaim.class).inNamespace("default").withName("held").get();
    }

    static Secret bindingSecret() {
        return client.secrets().inNamespace("default").withName("held-binding").get();
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
