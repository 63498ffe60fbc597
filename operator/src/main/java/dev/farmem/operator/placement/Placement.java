package dev.farmem.operator.placement;

import dev.farmem.crds.FarMemoryPoolSpec;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import io.fabric8.kubernetes.api.model.Node;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Taint;
import io.fabric8.kubernetes.api.model.Toleration;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Chooses the nodes that run a pool's agents: eligible nodes (selector, taints and tolerations,
 * Ready, schedulable, enough allocatable memory, hugepages and RDMA devices), spread over the
 * topology key. Nodes that already run an agent and are still eligible keep it, so that a
 * change of the spec never moves memory that is in use. Pure: same input, same plan.
 */
public final class Placement {

    /** Heap, direct buffers of the transport and JVM overhead of one agent, beside its region. */
    public static final long AGENT_OVERHEAD_BYTES = 256L << 20;

    /** The plan: the chosen nodes in order, how many were wanted, and why each other node was left out. */
    public record Plan(List<String> chosen, int desired, Map<String, String> ineligible, Map<String, String> zones) {}

    private Placement() {}

    /** Plans the agents of a pool whose spec has its defaults applied. {@code current} are the nodes that run an agent now. */
    public static Plan plan(FarMemoryPoolSpec spec, Collection<Node> nodes, Collection<String> current) {
        Map<String, String> ineligible = new TreeMap<>();
        Map<String, String> zoneOf = new HashMap<>();
        List<String> eligible = new ArrayList<>();
        for (Node n : nodes) {
            String name = n.getMetadata().getName();
            Map<String, String> labels = n.getMetadata().getLabels() == null ? Map.of() : n.getMetadata().getLabels();
            zoneOf.put(name, labels.getOrDefault(spec.topologyKey, ""));
            String why = whyIneligible(spec, n, labels);
            if (why == null) eligible.add(name);
            else ineligible.put(name, why);
        }
        eligible.sort(Comparator.naturalOrder());
        int desired = desiredNodes(spec, eligible.size());

        List<String> chosen = new ArrayList<>(eligible.stream().filter(current::contains).toList());
        while (chosen.size() > desired) chosen.remove(mostCrowded(chosen, zoneOf));
        while (chosen.size() < desired) {
            String next = leastCrowdedCandidate(eligible, chosen, zoneOf);
            if (next == null) break;
            chosen.add(next);
        }
        Map<String, String> zones = new LinkedHashMap<>();
        for (String c : chosen) zones.put(c, zoneOf.get(c));
        return new Plan(List.copyOf(chosen), desired, ineligible, zones);
    }

    /** How many agents the spec asks for, given how many nodes are eligible. */
    public static int desiredNodes(FarMemoryPoolSpec spec, int eligible) {
        FarMemoryPoolSpec.Capacity c = spec.capacity;
        long desired = c.totalBytes != null ? (c.totalBytes + c.perNodeBytes - 1) / c.perNodeBytes : eligible;
        if (c.maxNodes != null) desired = Math.min(desired, c.maxNodes);
        desired = Math.max(desired, c.minNodes == null ? 1 : c.minNodes);
        return (int) Math.min(desired, Integer.MAX_VALUE);
    }

    /** True when agent pods on this node request the RDMA device resource. */
    public static boolean usesRdma(FarMemoryPoolSpec spec, Node node) {
        return switch (spec.transport) {
            case "rdma" -> true;
            case "auto" -> spec.rdmaResource != null && allocatable(node, spec.rdmaResource).signum() > 0;
            default -> false;
        };
    }

    /**
     * What agents on this node are told to serve ({@code --transport}): rdma for an rdma pool (RDMA beside TCP, or the
     * agent stops saying what is missing); auto on a node with the RDMA device (RDMA where it comes up, TCP always);
     * tcp elsewhere, whose pods get no device.
     */
    public static String agentTransport(FarMemoryPoolSpec spec, Node node) {
        if ("rdma".equals(spec.transport)) return "rdma";
        return usesRdma(spec, node) ? "auto" : "tcp";
    }

    /**
     * The transport a claim's binding names: rdma for an rdma pool; for an auto pool, rdma only when every memory node
     * the claim uses reports RDMA beside TCP ({@link MemoryNodeStatus#RDMA_AND_TCP}), because a client uses one
     * transport for all its nodes and every node also serves TCP; tcp otherwise. While a replica of the claim is being
     * filled by a copy ({@code filling}), tcp whatever the pool says: the new replica records the lines clients write
     * so that the copy does not overwrite them, and one-sided RDMA WRITEs would bypass that (its agent refuses RDMA for
     * it); every agent serves TCP on the same endpoint, and the binding names rdma again once the copy is done.
     */
    public static String bindingTransport(FarMemoryPoolSpec spec, Collection<MemoryNode> claimNodes, boolean filling) {
        if (filling) return "tcp";
        return switch (spec.transport == null ? "tcp" : spec.transport) {
            case "rdma" -> "rdma";
            case "auto" -> !claimNodes.isEmpty() && claimNodes.stream().allMatch(Placement::offersRdma) ? "rdma" : "tcp";
            default -> "tcp";
        };
    }

    /** True when the memory node's agent reported that it serves RDMA. */
    public static boolean offersRdma(MemoryNode m) {
        return m != null && m.getStatus() != null && MemoryNodeStatus.RDMA_AND_TCP.equals(m.getStatus().transport);
    }

    /** Memory an agent pod requests: the region plus overhead, or only the overhead when hugepages hold the region. */
    public static long agentMemoryBytes(FarMemoryPoolSpec spec) {
        return (spec.hugepages != null ? 0 : spec.capacity.perNodeBytes) + AGENT_OVERHEAD_BYTES;
    }

    static String whyIneligible(FarMemoryPoolSpec spec, Node n, Map<String, String> labels) {
        if (spec.nodeSelector != null) {
            for (Map.Entry<String, String> want : spec.nodeSelector.entrySet()) {
                if (!Objects.equals(labels.get(want.getKey()), want.getValue())) {
                    return "does not match nodeSelector " + want.getKey() + "=" + want.getValue();
                }
            }
        }
        if (n.getSpec() != null && Boolean.TRUE.equals(n.getSpec().getUnschedulable())) return "is cordoned (unschedulable)";
        if (n.getSpec() != null && n.getSpec().getTaints() != null) {
            for (Taint t : n.getSpec().getTaints()) {
                boolean blocks = "NoSchedule".equals(t.getEffect()) || "NoExecute".equals(t.getEffect());
                if (blocks && !tolerated(t, spec.tolerations)) {
                    return "has taint " + t.getKey() + (t.getValue() == null ? "" : "=" + t.getValue()) + ":" + t.getEffect()
                            + " that the pool does not tolerate";
                }
            }
        }
        if (!isReady(n)) return "is not Ready";
        long memory = allocatable(n, "memory").longValue();
        if (memory < agentMemoryBytes(spec)) {
            return "has " + memory + " bytes of allocatable memory, an agent needs " + agentMemoryBytes(spec);
        }
        if (spec.hugepages != null) {
            String resource = "hugepages-" + spec.hugepages.pageSize;
            BigDecimal pages = allocatable(n, resource);
            if (pages.compareTo(BigDecimal.valueOf(spec.capacity.perNodeBytes)) < 0) {
                return "has " + pages.toPlainString() + " bytes of allocatable " + resource + ", the region needs " + spec.capacity.perNodeBytes;
            }
        }
        if ("rdma".equals(spec.transport) && allocatable(n, spec.rdmaResource).signum() <= 0) {
            return "has no allocatable " + spec.rdmaResource + " (transport rdma)";
        }
        return null;
    }

    static boolean tolerated(Taint t, List<Toleration> tolerations) {
        if (tolerations == null) return false;
        for (Toleration tol : tolerations) {
            boolean effect = tol.getEffect() == null || tol.getEffect().isEmpty() || tol.getEffect().equals(t.getEffect());
            if (!effect) continue;
            if ("Exists".equals(tol.getOperator())) {
                if (tol.getKey() == null || tol.getKey().isEmpty() || tol.getKey().equals(t.getKey())) return true;
            } else if (Objects.equals(tol.getKey(), t.getKey()) && Objects.equals(emptyToNull(tol.getValue()), emptyToNull(t.getValue()))) {
                return true;
            }
        }
        return false;
    }

    public static boolean isReady(Node n) {
        if (n.getStatus() == null || n.getStatus().getConditions() == null) return false;
        for (NodeCondition c : n.getStatus().getConditions()) {
            if ("Ready".equals(c.getType())) return "True".equals(c.getStatus());
        }
        return false;
    }

    static BigDecimal allocatable(Node n, String resource) {
        if (n.getStatus() == null || n.getStatus().getAllocatable() == null) return BigDecimal.ZERO;
        Quantity q = n.getStatus().getAllocatable().get(resource);
        return q == null ? BigDecimal.ZERO : q.getNumericalAmount();
    }

    private static String emptyToNull(String s) {
        return s == null || s.isEmpty() ? null : s;
    }

    private static String mostCrowded(List<String> chosen, Map<String, String> zoneOf) {
        Map<String, Integer> perZone = countPerZone(chosen, zoneOf);
        return chosen.stream().max(Comparator.comparingInt((String n) -> perZone.get(zoneOf.get(n))).thenComparing(Comparator.naturalOrder()))
                .orElseThrow();
    }

    private static String leastCrowdedCandidate(List<String> eligible, List<String> chosen, Map<String, String> zoneOf) {
        Map<String, Integer> perZone = countPerZone(chosen, zoneOf);
        return eligible.stream().filter(n -> !chosen.contains(n))
                .min(Comparator.comparingInt((String n) -> perZone.getOrDefault(zoneOf.get(n), 0)).thenComparing(Comparator.naturalOrder()))
                .orElse(null);
    }

    private static Map<String, Integer> countPerZone(List<String> chosen, Map<String, String> zoneOf) {
        Map<String, Integer> perZone = new HashMap<>();
        for (String c : chosen) perZone.merge(zoneOf.get(c), 1, Integer::sum);
        return perZone;
    }
}
