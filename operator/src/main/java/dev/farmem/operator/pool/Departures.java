package dev.farmem.operator.pool;

import dev.farmem.crds.MemoryNode;
import dev.farmem.operator.placement.Placement;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/**
 * Which live memory nodes of a pool are leaving, and why: their node is drained (cordoned), no longer
 * eligible, or not wanted any more (the pool was scaled down), or their agent pod runs another image
 * than the pool now asks for (a rolling upgrade). One pure function of what the pool reconcile
 * observed, so that each trigger is tested on its own ({@code DeparturesTest}).
 */
public final class Departures {

    /** Why a memory node leaves. */
    public enum Kind {
        /** Its node is cordoned: {@code kubectl drain}, or an operator's maintenance. */
        DRAIN,
        /** Its node no longer matches the pool (selector, taints, memory, readiness). */
        INELIGIBLE,
        /** The pool wants fewer agents ({@code maxNodes} or {@code totalBytes} lowered). */
        SCALE_DOWN,
        /** Its agent pod runs another image than the pool asks for: replaced, one node at a time. */
        UPGRADE
    }

    /** Memory node {@code memoryNode} leaves for {@code kind}; {@code message} says so in a user's words. */
    public record Departure(String memoryNode, Kind kind, String message) {}

    private Departures() {}

    /**
     * @param live the pool's memory nodes that are not Lost
     * @param plan this reconcile's placement (chosen nodes, and why the others are not eligible)
     * @param podOf the agent pods by memory node name
     * @param image the agent image the pool asks for now (defaults applied)
     * @return the departures, by memory node name
     */
    public static List<Departure> of(List<MemoryNode> live, Placement.Plan plan, Map<String, Pod> podOf, String image) {
        List<Departure> out = new ArrayList<>();
        for (MemoryNode m : live) {
            String name = m.getMetadata().getName();
            String node = m.getSpec().nodeName;
            if (!plan.chosen().contains(node)) {
                String why = plan.ineligible().get(node);
                // A node that is not Ready (or tainted so by the node controller) is liveness's to judge: its Lease decides Lost
                // within seconds, and a node that flaps under load must not move all its slabs away for good.
                if (why != null && isLiveness(why)) continue;
                if (why != null && why.startsWith("is cordoned")) {
                    out.add(new Departure(name, Kind.DRAIN, "node " + node + " is cordoned (drained)"));
                } else if (why != null) {
                    out.add(new Departure(name, Kind.INELIGIBLE, "node " + node + " is no longer eligible: it " + why));
                } else {
                    out.add(new Departure(name, Kind.SCALE_DOWN, "the pool wants " + plan.desired() + " agent(s), on other nodes"));
                }
                continue;
            }
            String running = imageOf(podOf.get(name));
            if (running != null && image != null && !running.equals(image)) {
                out.add(new Departure(name, Kind.UPGRADE, "its agent runs " + running + ", the pool asks for " + image));
            }
        }
        out.sort(Comparator.comparing(Departure::memoryNode));
        return out;
    }

    private static boolean isLiveness(String why) {
        return why.equals("is not Ready") || why.contains("node.kubernetes.io/not-ready") || why.contains("node.kubernetes.io/unreachable");
    }

    private static String imageOf(Pod pod) {
        if (pod == null || pod.getSpec() == null || pod.getSpec().getContainers().isEmpty()) return null;
        return pod.getSpec().getContainers().get(0).getImage();
    }
}
