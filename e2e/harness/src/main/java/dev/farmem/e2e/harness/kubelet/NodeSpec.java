package dev.farmem.e2e.harness.kubelet;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A node the local kubelet registers: its name, labels and capacity. Example:
 * {@code NodeSpec.of("node-a", "zone-1", "rack-1")}.
 */
public record NodeSpec(String name, Map<String, String> labels, long memoryBytes, int cpus, int maxPods) {
    public static final String ZONE_LABEL = "topology.kubernetes.io/zone";
    public static final String RACK_LABEL = "topology.farmem.dev/rack";
    public static final long DEFAULT_MEMORY = 16L << 30;

    public NodeSpec {
        if (name == null || !name.matches("[a-z0-9]([-a-z0-9]*[a-z0-9])?")) {
            throw new IllegalArgumentException("node name '" + name + "' is not a DNS label (lowercase letters, digits, '-')");
        }
        if (memoryBytes <= 0 || cpus <= 0 || maxPods <= 0) {
            throw new IllegalArgumentException("node " + name + ": memory, cpus and maxPods must be positive");
        }
        labels = Map.copyOf(labels);
    }

    /** A node in {@code zone} and {@code rack} with 16 GiB, 4 CPUs and 110 pods. */
    public static NodeSpec of(String name, String zone, String rack) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put(ZONE_LABEL, zone);
        labels.put(RACK_LABEL, rack);
        return new NodeSpec(name, labels, DEFAULT_MEMORY, 4, 110);
    }

    public NodeSpec withMemory(long bytes) {
        return new NodeSpec(name, labels, bytes, cpus, maxPods);
    }

    public NodeSpec withLabel(String key, String value) {
        Map<String, String> l = new LinkedHashMap<>(labels);
        l.put(key, value);
        return new NodeSpec(name, l, memoryBytes, cpus, maxPods);
    }
}
