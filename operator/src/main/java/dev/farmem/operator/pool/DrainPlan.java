package dev.farmem.operator.pool;

import dev.farmem.operator.allocation.MemoryNodes;
import io.fabric8.kubernetes.api.model.Pod;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * What to do this reconcile about the memory nodes that leave ({@link Departures}): a pure function,
 * tested per case ({@code DrainPlanTest}).
 * <ul>
 * <li>A leaving node that holds no claim slab has its pod released from the disruption budget
 *     ({@link AgentObjects#SLABS_MOVED_LABEL}), so a drain may evict it; drained, ineligible and
 *     scaled-down nodes are then retired (not chosen, nothing held).</li>
 * <li>One that holds slabs has them moved ({@link SlabMover}); its pod stays protected meanwhile.</li>
 * <li>A memory node marked to move its slabs ({@link MemoryNodes#MOVE_ANNOTATION}) that holds none any more and is
 *     not leaving (the move finished; a drain was undone; someone moved its slabs by hand) loses the mark, so it takes
 *     slabs again. One that leaves is retired or replaced instead.</li>
 * <li>Upgrades go one node at a time, in name order: the first one moves its slabs, and once it holds
 *     none it is replaced (its memory node retired; placement puts a new one, with the new image, on the
 *     same node). The others wait, so a pool never loses two agents to an upgrade at once.</li>
 * </ul>
 *
 * @param release pods (by memory node) to mark as holding no slabs
 * @param protect pods marked so whose memory node holds slabs again: the budget must cover them again
 * @param move departures whose slabs to move now
 * @param replace memory nodes to retire now, for an upgrade
 * @param waiting why the other upgrading memory nodes wait
 * @param unmark memory nodes whose move is over: the mark goes
 */
public record DrainPlan(List<String> release, List<String> protect, List<Departures.Departure> move, List<String> replace, Map<String, String> waiting,
                        List<String> unmark) {

    /**
     * @param departures the memory nodes that leave ({@link Departures})
     * @param holdingSlabs the memory nodes some claim status names
     * @param podOf the agent pods by memory node
     * @param marked the memory nodes marked to move their slabs
     */
    public static DrainPlan of(List<Departures.Departure> departures, Set<String> holdingSlabs, Map<String, Pod> podOf, Set<String> marked) {
        List<String> release = new ArrayList<>();
        List<Departures.Departure> move = new ArrayList<>();
        List<String> replace = new ArrayList<>();
        Map<String, String> waiting = new LinkedHashMap<>();
        String upgrading = null;
        for (Departures.Departure d : departures) {
            String m = d.memoryNode();
            boolean holds = holdingSlabs.contains(m);
            if (!holds && !released(podOf.get(m))) release.add(m);
            if (d.kind() != Departures.Kind.UPGRADE) {
                if (holds) move.add(d);
                continue;
            }
            if (upgrading != null) {
                waiting.put(m, "waiting: agents are upgraded one node at a time, " + upgrading + " first");
                continue;
            }
            upgrading = m;
            if (holds) move.add(d); else replace.add(m);
        }
        List<String> protect = podOf.entrySet().stream().filter(e -> released(e.getValue()) && holdingSlabs.contains(e.getKey()))
                .map(Map.Entry::getKey).sorted().toList();
        Set<String> leaving = departures.stream().map(Departures.Departure::memoryNode).collect(Collectors.toSet());
        List<String> unmark = marked.stream().filter(m -> !holdingSlabs.contains(m) && !leaving.contains(m)).sorted().toList();
        return new DrainPlan(List.copyOf(release), protect, List.copyOf(move), List.copyOf(replace), waiting, unmark);
    }

    /**
     * How many of {@code agents} (memory nodes that run an agent pod) the disruption budget covers once this plan is
     * carried out: those whose pod is not marked as holding no slabs, or is marked and must be protected again. The
     * budget's {@code minAvailable}.
     */
    public int guarded(Collection<String> agents, Map<String, Pod> podOf) {
        return (int) agents.stream().filter(m -> protect.contains(m) || !(released(podOf.get(m)) || release.contains(m))).count();
    }

    static boolean released(Pod pod) {
        return pod != null && pod.getMetadata().getLabels() != null && "true".equals(pod.getMetadata().getLabels().get(AgentObjects.SLABS_MOVED_LABEL));
    }
}
