package dev.farmem.operator.pool;

import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.function.Function;

/**
 * What the operator gives agent pods when a pool's spec does not say: the Helm chart's values
 * {@code images.agent}, {@code images.pullPolicy}, {@code images.pullSecrets} and
 * {@code rdma.resourceName}, passed in the environment. A pool's own spec.agent.image,
 * spec.agent.imagePullPolicy and spec.rdmaResource win where set; the pull secrets go on every agent pod.
 *
 * <pre>
 * AgentDefaults d = AgentDefaults.from(System::getenv);   // FARMEM_AGENT_IMAGE=registry.example/farmem-agent:0.2.0 ...
 * </pre>
 *
 * @param image           agent image of pools without spec.agent.image
 * @param imagePullPolicy Always, IfNotPresent or Never
 * @param pullSecrets     Secrets in the operator's namespace, for pulling the agent image
 * @param rdmaResource    RDMA device plugin resource of pools without spec.rdmaResource; null when none
 */
public record AgentDefaults(String image, String imagePullPolicy, List<String> pullSecrets, String rdmaResource) {
    /** The image the operator runs without a chart (the version of this source tree's agent). */
    public static final String IMAGE = "ghcr.io/farmem/farmem-agent:0.1.0";
    public static final String PULL_POLICY = "IfNotPresent";
    static final Set<String> PULL_POLICIES = Set.of("Always", "IfNotPresent", "Never");

    /** Built-in defaults: the released image, IfNotPresent, no pull secret, no RDMA resource. */
    public static final AgentDefaults BUILT_IN = new AgentDefaults(IMAGE, PULL_POLICY, List.of(), null);

    public AgentDefaults {
        if (image == null || image.isBlank()) throw new IllegalArgumentException("the agent image is empty: set FARMEM_AGENT_IMAGE (chart value images.agent)");
        if (!PULL_POLICIES.contains(imagePullPolicy)) {
            throw new IllegalArgumentException("image pull policy '" + imagePullPolicy
                    + "' is not Always, IfNotPresent or Never: fix FARMEM_IMAGE_PULL_POLICY (chart value images.pullPolicy)");
        }
        pullSecrets = List.copyOf(pullSecrets);
        if (rdmaResource != null && rdmaResource.isBlank()) rdmaResource = null;
        if (rdmaResource != null && !rdmaResource.matches("[a-z0-9.-]+/[a-zA-Z0-9_.-]+")) {
            throw new IllegalArgumentException("RDMA resource '" + rdmaResource
                    + "' is not an extended resource name such as rdma/hca_shared_devices_a: fix FARMEM_RDMA_RESOURCE (chart value rdma.resourceName)");
        }
    }

    /**
     * Reads FARMEM_AGENT_IMAGE, FARMEM_IMAGE_PULL_POLICY, FARMEM_IMAGE_PULL_SECRETS (comma-separated names)
     * and FARMEM_RDMA_RESOURCE; an unset or empty variable keeps the built-in default.
     */
    public static AgentDefaults from(Function<String, String> env) {
        String secrets = orEmpty(env.apply("FARMEM_IMAGE_PULL_SECRETS"));
        return new AgentDefaults(
                orElse(env.apply("FARMEM_AGENT_IMAGE"), IMAGE),
                orElse(env.apply("FARMEM_IMAGE_PULL_POLICY"), PULL_POLICY),
                Arrays.stream(secrets.split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList(),
                orEmpty(env.apply("FARMEM_RDMA_RESOURCE")).strip());
    }

    private static String orElse(String value, String fallback) {
        return value == null || value.isBlank() ? fallback : value.strip();
    }

    private static String orEmpty(String value) {
        return value == null ? "" : value;
    }
}
