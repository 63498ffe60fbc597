package dev.farmem.e2e.harness.kubelet;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.ResourceFieldSelector;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The Downward API: the values of a pod's fieldRef and resourceFieldRef selectors, as a kubelet resolves them. */
final class PodFields {
    private static final Pattern MAP_KEY = Pattern.compile("metadata\\.(labels|annotations)\\['(.+)']");

    private final Pod pod;
    private final String podIp;
    private final String hostIp;

    PodFields(Pod pod, String podIp, String hostIp) {
        this.pod = pod;
        this.podIp = podIp;
        this.hostIp = hostIp;
    }

    String field(String path) {
        Matcher m = MAP_KEY.matcher(path);
        if (m.matches()) {
            Map<String, String> map = m.group(1).equals("labels") ? pod.getMetadata().getLabels() : pod.getMetadata().getAnnotations();
            return map == null ? "" : map.getOrDefault(m.group(2), "");
        }
        return switch (path) {
            case "metadata.name" -> pod.getMetadata().getName();
            case "metadata.namespace" -> pod.getMetadata().getNamespace();
            case "metadata.uid" -> pod.getMetadata().getUid();
            case "metadata.labels" -> formatMap(pod.getMetadata().getLabels());
            case "metadata.annotations" -> formatMap(pod.getMetadata().getAnnotations());
            case "spec.nodeName" -> pod.getSpec().getNodeName();
            case "spec.serviceAccountName" -> pod.getSpec().getServiceAccountName();
            case "status.podIP", "status.podIPs" -> podIp;
            case "status.hostIP", "status.hostIPs" -> hostIp;
            default -> throw new PodConfigException("fieldRef " + path + " is not a Downward API field this kubelet knows");
        };
    }

    /** limits.memory and friends, in the divisor's unit (rounded up, like the kubelet); a missing limit is the node's. */
    String resource(ResourceFieldSelector sel, String containerName, NodeSpec node) {
        String c = sel.getContainerName() != null && !sel.getContainerName().isEmpty() ? sel.getContainerName() : containerName;
        var container = pod.getSpec().getContainers().stream().filter(x -> x.getName().equals(c)).findFirst()
                .orElseThrow(() -> new PodConfigException("resourceFieldRef names container " + c + ", which the pod does not have"));
        String[] parts = sel.getResource().split("\\.", 2);
        if (parts.length != 2) {
            throw new PodConfigException("resourceFieldRef " + sel.getResource() + " is not <limits|requests>.<resource>");
        }
        var res = container.getResources();
        Map<String, Quantity> m = res == null ? null : (parts[0].equals("limits") ? res.getLimits() : res.getRequests());
        BigDecimal value;
        if (m != null && m.containsKey(parts[1])) {
            value = m.get(parts[1]).getNumericalAmount();
        } else if (parts[1].equals("memory")) {
            value = BigDecimal.valueOf(node.memoryBytes());
        } else if (parts[1].equals("cpu")) {
            value = BigDecimal.valueOf(node.cpus());
        } else {
            value = BigDecimal.ZERO;
        }
        BigDecimal divisor = sel.getDivisor() == null ? BigDecimal.ONE : sel.getDivisor().getNumericalAmount();
        return value.divide(divisor, 0, RoundingMode.CEILING).toPlainString();
    }

    private static String formatMap(Map<String, String> map) {
        StringBuilder sb = new StringBuilder();
        if (map != null) {
            map.forEach((k, v) -> sb.append(k).append("=\"").append(v.replace("\"", "\\\"")).append("\"\n"));
        }
        return sb.toString();
    }
}
