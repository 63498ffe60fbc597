package dev.farmem.e2e.harness.node;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A node of the local cluster: its name, its labels (zone and rack), the memory it offers pods (its allocatable
 * memory: the kubelet reserves the rest of the machine's) and how many pods it runs. CPU is the machine's.
 * Example: {@code NodeSpec.of("node-a", "zone-1", "rack-1")}.
 */
public record NodeSpec(String name, Map<String, String> labels, List<String> taints, long memoryBytes, int maxPods) {
    public static final String ZONE_LABEL = "topology.kubernetes.io/zone";
    public static final String RACK_LABEL = "topology.farmem.dev/rack";
    public static final long DEFAULT_MEMORY = 16L << 30;

    public NodeSpec {
        if (name == null || !name.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?")) {
            throw new IllegalArgumentException("node name '" + name + "' is not a DNS label (lowercase letters, digits, '-')");
        }
        if (memoryBytes <= 0 || maxPods <= 0) {
            throw new IllegalArgumentException("node " + name + ": memory and maxPods must be positive");
        }
        labels = Map.copyOf(labels);
        taints = List.copyOf(taints);
        for (String t : taints) {
            if (!t.matches("[a-z0-9./-]+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)")) {
                throw new IllegalArgumentException("node " + name + ": taint '" + t + "' is not key[=value]:Effect");
            }
        }
    }

    /** A node in {@code zone} and {@code rack} offering 16 GiB (or the machine's memory, if less) and 110 pods. */
    public static NodeSpec of(String name, String zone, String rack) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(ZONE_LABEL, zone);
        labels.put(RACK_LABEL, rack);
        return new NodeSpec(name, labels, List.of(), DEFAULT_MEMORY, 110);
    }

    public NodeSpec withMemory(long bytes) {
        return new NodeSpec(name, labels, taints, bytes, maxPods);
    }

    public NodeSpec withLabel(String key, String value) {
        Map<String, String> l = new LinkedHashMap<>(labels);
        l.put(key, value);
        return new NodeSpec(name, l, taints, memoryBytes, maxPods);
    }

    /** A node the kubelet registers with this taint ({@code key[=value]:Effect}): only pods that tolerate it land there. */
    public NodeSpec withTaint(String taint) {
        List<String> t = new ArrayList<>(taints);
        t.add(taint);
        return new NodeSpec(name, labels, t, memoryBytes, maxPods);
    }
}
