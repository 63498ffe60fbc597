package dev.farmem.operator.allocation;

import dev.farmem.common.binding.Binding.Extent;
import dev.farmem.common.binding.Binding.Replica;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * The slabs of one pool: which memory node slab belongs to which claim. Hands slabs out as
 * compact extents, each extent's replicas on distinct nodes (and distinct zones when the pool
 * spans at least as many zones as the replication), preferring the nodes with the most free
 * slabs so that load spreads. It holds no state of its own worth keeping: {@link #restore}
 * rebuilds it from the extents recorded in claim statuses. Thread-safe.
 */
public final class SlabAllocator {

    /** A memory node as the allocator sees it; a node that does not accept keeps its slabs but gets no new ones. */
    public record Node(String name, String zone, int slabs, boolean accepting) {}

    /** The outcome of {@link #allocate}: extents, or why none could be given. */
    public record Allocation(List<Extent> extents, String failure) {
        public boolean ok() {
            return failure == null;
        }
    }

    private static final class NodeState {
        String zone;
        int slabs;
        boolean accepting;
        final BitSet used = new BitSet();

        NodeState(String zone, int slabs, boolean accepting) {
            this.zone = zone;
            this.slabs = slabs;
            this.accepting = accepting;
        }

        int free() {
            return Math.max(0, slabs - used.cardinality());
        }
    }

    private final Map<String, NodeState> nodes = new TreeMap<>();
    private final Map<String, List<Extent>> claims = new LinkedHashMap<>();

    /**
     * Sets the memory nodes. Nodes not listed stop accepting but keep the slabs claims hold on
     * them (a Lost node's slabs are not handed out again while a claim still names them).
     */
    public synchronized void setNodes(List<Node> current) {
        Set<String> seen = new HashSet<>();
        for (Node n : current) {
            if (n.slabs() < 0) throw new IllegalArgumentException("node " + n.name() + " has a negative slab count " + n.slabs());
            seen.add(n.name());
            NodeState s = nodes.get(n.name());
            if (s == null) {
                nodes.put(n.name(), new NodeState(zoneOf(n.zone()), n.slabs(), n.accepting()));
            } else {
                s.zone = zoneOf(n.zone());
                s.slabs = n.slabs();
                s.accepting = n.accepting();
            }
        }
        nodes.entrySet().removeIf(e -> !seen.contains(e.getKey()) && e.getValue().used.isEmpty());
        for (Map.Entry<String, NodeState> e : nodes.entrySet()) {
            if (!seen.contains(e.getKey())) e.getValue().accepting = false;
        }
    }

    /**
     * Gives {@code slabCount} slabs with {@code replication} copies to {@code claim}, or nothing
     * and a reason. Asking again for a claim that holds slabs returns what it holds.
     */
    public synchronized Allocation allocate(String claim, long slabCount, int replication) {
        if (slabCount <= 0) throw new IllegalArgumentException("slab count must be positive, got " + slabCount);
        if (replication < 1 || replication > 3) throw new IllegalArgumentException("replication must be 1..3, got " + replication);
        List<Extent> held = claims.get(claim);
        if (held != null) return new Allocation(held, null);

        List<String> accepting = nodes.entrySet().stream().filter(e -> e.getValue().accepting && e.getValue().free() > 0)
                .map(Map.Entry::getKey).toList();
        if (accepting.size() < replication) {
            return new Allocation(List.of(), "replication " + replication + " needs " + replication
                    + " memory nodes with free slabs, the pool has " + accepting.size());
        }
        long free = accepting.stream().mapToLong(n -> nodes.get(n).free()).sum();
        if (slabCount * replication > free) {
            return new Allocation(List.of(), "the claim needs " + slabCount * replication + " slabs (" + slabCount + " x replication "
                    + replication + "), the pool has " + free + " free");
        }
        // Zones of every accepting node, full or not: a multi-zone pool keeps replicas zone-apart even when a zone fills up.
        long zones = nodes.values().stream().filter(s -> s.accepting).map(s -> s.zone).distinct().count();
        boolean distinctZones = zones >= replication;
        // Spread a large claim over the nodes: no extent bigger than its fair share of one node.
        long share = Math.max(1, ceilDiv(slabCount, Math.max(1, accepting.size() / replication)));

        List<Extent> extents = new ArrayList<>();
        long next = 0;
        while (next < slabCount) {
            List<String> chosen = pickNodes(replication, distinctZones);
            if (chosen == null) {
                rollback(extents);
                String what = distinctZones ? "memory nodes in distinct zones" : "distinct memory nodes";
                return new Allocation(List.of(), "no " + replication + " " + what + " have free slabs left for the rest of the claim ("
                        + (slabCount - next) + " slabs)");
            }
            long count = Math.min(slabCount - next, share);
            List<int[]> runs = new ArrayList<>();
            for (String n : chosen) {
                int[] run = largestFreeRun(nodes.get(n));
                runs.add(run);
                count = Math.min(count, run[1]);
            }
            List<Replica> replicas = new ArrayList<>();
            for (int i = 0; i < chosen.size(); i++) {
                int first = runs.get(i)[0];
                nodes.get(chosen.get(i)).used.set(first, first + (int) count);
                replicas.add(new Replica(chosen.get(i), first));
            }
            extents.add(new Extent(next, (int) count, List.copyOf(replicas)));
            next += count;
        }
        List<Extent> result = List.copyOf(extents);
        claims.put(claim, result);
        return new Allocation(result, null);
    }

    /** The outcome of {@link #placeReplica}: a new replica, or why none could be placed. */
    public record Placed(Replica replica, String failure) {
        public boolean ok() {
            return failure == null;
        }
    }

    /**
     * Places one more replica of a claim's extent at claim slab {@code extentFirstSlab} (re-replication, a move): a run
     * of the extent's slab count on an accepting node that holds none of the extent's replicas, in a zone none of
     * them is in when the pool's accepting nodes span enough zones (the same rule as {@link #allocate}); the node
     * with the most free slabs first. The replica is recorded in the claim's extents, marked {@code filling}; the
     * caller records the claim status, or calls {@link #setExtents} with the old extents to undo.
     */
    public synchronized Placed placeReplica(String claim, long extentFirstSlab) {
        List<Extent> held = claims.get(claim);
        if (held == null) throw new IllegalStateException("claim " + claim + " holds no slabs to place a replica for");
        Extent extent = held.stream().filter(e -> e.firstSlab() == extentFirstSlab).findFirst()
                .orElseThrow(() -> new IllegalStateException("claim " + claim + " has no extent at slab " + extentFirstSlab));
        Set<String> taken = new HashSet<>();
        Set<String> takenZones = new HashSet<>();
        for (Replica r : extent.replicas()) {
            taken.add(r.node());
            NodeState s = nodes.get(r.node());
            if (s != null) takenZones.add(s.zone);
        }
        long zones = nodes.values().stream().filter(s -> s.accepting).map(s -> s.zone).distinct().count();
        boolean distinctZones = zones >= extent.replicas().size() + 1;
        List<String> order = nodes.entrySet().stream()
                .filter(e -> e.getValue().accepting && !taken.contains(e.getKey()) && largestFreeRun(e.getValue())[1] >= extent.count())
                .filter(e -> !distinctZones || !takenZones.contains(e.getValue().zone))
                .sorted(Comparator.comparingInt((Map.Entry<String, NodeState> e) -> -e.getValue().free()).thenComparing(Map.Entry::getKey))
                .map(Map.Entry::getKey).toList();
        if (order.isEmpty()) {
            return new Placed(null, "no accepting memory node " + (distinctZones ? "in another zone " : "") + "without a replica of claim slabs "
                    + extentFirstSlab + ".." + (extentFirstSlab + extent.count() - 1) + " has " + extent.count() + " free slabs in a row");
        }
        String node = order.get(0);
        int first = largestFreeRun(nodes.get(node))[0];
        nodes.get(node).used.set(first, first + extent.count());
        Replica placed = new Replica(node, first, true);
        List<Extent> next = new ArrayList<>();
        for (Extent e : held) {
            if (e != extent) {
                next.add(e);
                continue;
            }
            List<Replica> replicas = new ArrayList<>(e.replicas());
            replicas.add(placed);
            next.add(new Extent(e.firstSlab(), e.count(), List.copyOf(replicas)));
        }
        claims.put(claim, List.copyOf(next));
        return new Placed(placed, null);
    }

    /**
     * Sets a claim's extents to {@code extents}: slabs no longer named are freed (a replica that was replaced), slabs
     * newly named are taken. Throws, changing nothing, when a newly named slab is held by another claim.
     */
    public synchronized void setExtents(String claim, List<Extent> extents) {
        List<Extent> held = claims.remove(claim);
        if (held != null) rollback(held);
        try {
            restore(claim, extents);
        } catch (IllegalStateException e) {
            if (held != null) restore(claim, held);
            throw e;
        }
    }

    /** Returns a claim's slabs to the pool; freeing a claim that holds none does nothing. */
    public synchronized void free(String claim) {
        List<Extent> held = claims.remove(claim);
        if (held != null) rollback(held);
    }

    /**
     * Records slabs a claim already holds (from its status). Throws, changing nothing, when a
     * slab is already held by another claim or lies beyond a known node's region.
     */
    public synchronized void restore(String claim, List<Extent> extents) {
        if (claims.containsKey(claim)) {
            if (claims.get(claim).equals(extents)) return;
            throw new IllegalStateException("claim " + claim + " is restored twice with different extents");
        }
        List<Extent> done = new ArrayList<>();
        for (Extent e : extents) {
            for (Replica r : e.replicas()) {
                NodeState s = nodes.computeIfAbsent(r.node(), n -> new NodeState("", 0, false));
                int clash = s.used.nextSetBit(r.firstSlab());
                if (clash >= 0 && clash < r.firstSlab() + e.count()) {
                    rollback(done);
                    rollbackPartial(e, r);
                    throw new IllegalStateException("slab " + clash + " of memory node " + r.node() + " is held by claim " + holderOf(r.node(), clash)
                            + " and claimed again by " + claim);
                }
                if (s.accepting && r.firstSlab() + e.count() > s.slabs) {
                    rollback(done);
                    rollbackPartial(e, r);
                    throw new IllegalStateException("claim " + claim + " holds slabs up to " + (r.firstSlab() + e.count())
                            + " on memory node " + r.node() + ", which has only " + s.slabs);
                }
                s.used.set(r.firstSlab(), r.firstSlab() + e.count());
            }
            done.add(e);
        }
        claims.put(claim, List.copyOf(extents));
    }

    public synchronized Optional<List<Extent>> extentsOf(String claim) {
        return Optional.ofNullable(claims.get(claim));
    }

    /** Node slabs held by claims, every replica counted. */
    public synchronized long usedSlabs() {
        return nodes.values().stream().mapToLong(s -> s.used.cardinality()).sum();
    }

    public synchronized long usedSlabs(String node) {
        NodeState s = nodes.get(node);
        return s == null ? 0 : s.used.cardinality();
    }

    /** Free slabs on accepting nodes. */
    public synchronized long freeSlabs() {
        return nodes.values().stream().filter(s -> s.accepting).mapToLong(NodeState::free).sum();
    }

    /** Nodes on which some claim holds slabs. */
    public synchronized Set<String> nodesInUse() {
        Set<String> out = new HashSet<>();
        nodes.forEach((n, s) -> {
            if (!s.used.isEmpty()) out.add(n);
        });
        return out;
    }

    /** The claims that hold slabs, in the order they got them. */
    public synchronized List<String> claims() {
        return List.copyOf(claims.keySet());
    }

    private List<String> pickNodes(int replication, boolean distinctZones) {
        List<String> order = nodes.entrySet().stream().filter(e -> e.getValue().accepting && e.getValue().free() > 0)
                .sorted(Comparator.comparingInt((Map.Entry<String, NodeState> e) -> -e.getValue().free()).thenComparing(Map.Entry::getKey))
                .map(Map.Entry::getKey).toList();
        List<String> chosen = new ArrayList<>();
        Set<String> zones = new HashSet<>();
        for (String n : order) {
            if (distinctZones && !zones.add(nodes.get(n).zone)) continue;
            chosen.add(n);
            if (chosen.size() == replication) return chosen;
        }
        return null;
    }

    private static int[] largestFreeRun(NodeState s) {
        int bestStart = -1, bestLength = 0;
        int i = s.used.nextClearBit(0);
        while (i < s.slabs) {
            int end = Math.min(s.slabs, s.used.nextSetBit(i) < 0 ? s.slabs : s.used.nextSetBit(i));
            if (end - i > bestLength) {
                bestStart = i;
                bestLength = end - i;
            }
            i = s.used.nextClearBit(end);
        }
        return new int[] {bestStart, bestLength};
    }

    private void rollback(List<Extent> extents) {
        for (Extent e : extents) {
            for (Replica r : e.replicas()) {
                NodeState s = nodes.get(r.node());
                if (s != null) s.used.clear(r.firstSlab(), r.firstSlab() + e.count());
            }
        }
    }

    /** Undoes the replicas of {@code e} placed before {@code upTo}. */
    private void rollbackPartial(Extent e, Replica upTo) {
        for (Replica r : e.replicas()) {
            if (r == upTo) return;
            nodes.get(r.node()).used.clear(r.firstSlab(), r.firstSlab() + e.count());
        }
    }

    private String holderOf(String node, int slab) {
        for (Map.Entry<String, List<Extent>> c : claims.entrySet()) {
            for (Extent e : c.getValue()) {
                for (Replica r : e.replicas()) {
                    if (r.node().equals(node) && slab >= r.firstSlab() && slab < r.firstSlab() + e.count()) return c.getKey();
                }
            }
        }
        return "?";
    }

    private static String zoneOf(String zone) {
        return zone == null ? "" : zone;
    }

    private static long ceilDiv(long a, long b) {
        return (a + b - 1) / b;
    }
}
