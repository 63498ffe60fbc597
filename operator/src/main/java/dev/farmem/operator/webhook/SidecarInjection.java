package dev.farmem.operator.webhook;

import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import dev.farmem.common.ByteSize;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerBuilder;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EnvVarBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodSecurityContext;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.SecurityContext;
import io.fabric8.kubernetes.api.model.SecurityContextBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeBuilder;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.api.model.VolumeMountBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the webhook does to a pod that names a claim: the decision (inject, leave alone, or
 * refuse with a message that says what to do) and the JSON Patch that injects the sidecar. Pure:
 * the caller looks up the claim and the pods already attached to it.
 *
 * <p>A pod asks with the annotation {@value #CLAIM_ANNOTATION}{@code : <claim>} (and the label
 * {@value #INJECT_LABEL}{@code : "true"}, which is what the webhook configuration selects). It
 * is refused when the claim does not exist, is not Bound, or is attached to another live pod
 * (a claim is attached by one runtime at a time; deleting that pod releases it). Workload
 * controllers retry a refused pod on their own, so a claim applied with its Deployment works
 * once it is Bound.
 */
public final class SidecarInjection {

    public static final String CLAIM_ANNOTATION = "farmem.io/claim";
    /** Optional: the sidecar's cache size (default 64Mi). */
    public static final String CACHE_ANNOTATION = "farmem.io/cache-size";
    /**
     * Optional: how long the sidecar polls after a request, in microseconds (its
     * {@code --poll-micros}: default 100, 0 for doorbells only, which saves the core it polls on).
     */
    public static final String POLL_ANNOTATION = "farmem.io/sidecar-poll-micros";
    static final long MAX_POLL_MICROS = 10_000;
    public static final String INJECT_LABEL = "farmem.io/inject";
    /** Set on injected pods: which claim they attach (found again by label). */
    public static final String CLAIM_LABEL = "farmem.io/claim";
    public static final String CONTAINER = "farmem-sidecar";
    public static final String SHM_VOLUME = "farmem-shm";
    public static final String BINDING_VOLUME = "farmem-binding";
    public static final String SHM_PATH = "/var/run/farmem/shm";
    public static final String BINDING_PATH = "/var/run/farmem/binding";
    private static final long CONTROL_AND_SLACK = 16L << 20; // the control file and the region's tables
    private static final long SIDECAR_HEAP = 96L << 20;
    /** The sidecar image's own user (the USER of its image, set in the root pom's jib-maven-plugin), used when the application states none. */
    static final long SIDECAR_UID = 10001;

    /** How injected sidecars look; the operator reads these from its environment. */
    public record Settings(String image, String pullPolicy, int metricsPort, String cpuRequest, long defaultCacheBytes) {
        public static Settings fromEnv() {
            return new Settings(env("FARMEM_SIDECAR_IMAGE", "ghcr.io/farmem/farmem-sidecar:latest"), env("FARMEM_IMAGE_PULL_POLICY", "IfNotPresent"),
                    Integer.parseInt(env("FARMEM_SIDECAR_METRICS_PORT", "9091")), env("FARMEM_SIDECAR_CPU_REQUEST", "100m"),
                    ByteSize.parse(env("FARMEM_SIDECAR_CACHE_BYTES", "64Mi"), "FARMEM_SIDECAR_CACHE_BYTES"));
        }

        private static String env(String name, String def) {
            String v = System.getenv(name);
            return v == null || v.isBlank() ? def : v;
        }
    }

    /** The outcome for one pod: allowed (with a patch, or none) or refused with a message. */
    public record Decision(boolean allowed, List<Map<String, Object>> patch, String message) {
        static Decision unchanged() {
            return new Decision(true, List.of(), null);
        }

        static Decision refuse(String message) {
            return new Decision(false, List.of(), message);
        }
    }

    private final Settings settings;

    public SidecarInjection(Settings settings) {
        this.settings = settings;
    }

    /** The claim a pod names, or null. */
    public static String claimOf(Pod pod) {
        Map<String, String> a = pod.getMetadata() == null ? null : pod.getMetadata().getAnnotations();
        String c = a == null ? null : a.get(CLAIM_ANNOTATION);
        return c == null || c.isBlank() ? null : c.trim();
    }

    /**
     * Decides for {@code pod} created in {@code namespace}: {@code claim} is the claim it names
     * (null if absent), {@code attachedPods} the live pods already attached to that claim.
     */
    public Decision decide(Pod pod, String namespace, FarMemoryClaim claim, List<String> attachedPods) {
        String name = claimOf(pod);
        Map<String, String> labels = pod.getMetadata().getLabels();
        if (name == null) {
            if (labels != null && "true".equals(labels.get(INJECT_LABEL))) {
                return Decision.refuse("pod has the label " + INJECT_LABEL + "=true but no annotation " + CLAIM_ANNOTATION
                        + ": add the annotation " + CLAIM_ANNOTATION + ": <name of a FarMemoryClaim in namespace " + namespace + ">");
            }
            return Decision.unchanged();
        }
        if (pod.getSpec().getContainers().stream().anyMatch(c -> CONTAINER.equals(c.getName()))) return Decision.unchanged();
        if (claim == null) {
            return Decision.refuse("FarMemoryClaim " + name + " does not exist in namespace " + namespace + " (named by the pod's annotation "
                    + CLAIM_ANNOTATION + "): create the claim first; a Deployment's pods are retried until it is Bound");
        }
        FarMemoryClaimStatus status = claim.getStatus();
        String phase = status == null || status.phase == null ? FarMemoryClaimStatus.PENDING : status.phase;
        if (!FarMemoryClaimStatus.BOUND.equals(phase)) {
            String why = status != null && status.message != null ? ": " + status.message : "";
            return Decision.refuse("FarMemoryClaim " + name + " in namespace " + namespace + " is " + phase + why
                    + "; pods that name it are refused until it is Bound (kubectl get farmemoryclaim " + name + " -n " + namespace + ")");
        }
        if (!attachedPods.isEmpty()) {
            return Decision.refuse("FarMemoryClaim " + name + " in namespace " + namespace + " is attached to pod " + attachedPods.get(0)
                    + " (one runtime per claim): delete that pod first, or give a Deployment the strategy Recreate");
        }
        long cacheBytes;
        Long pollMicros;
        try {
            String c = pod.getMetadata().getAnnotations().get(CACHE_ANNOTATION);
            cacheBytes = c == null ? settings.defaultCacheBytes() : ByteSize.parse(c, "annotation " + CACHE_ANNOTATION);
            pollMicros = pollMicros(pod.getMetadata().getAnnotations().get(POLL_ANNOTATION));
        } catch (IllegalArgumentException e) {
            return Decision.refuse(e.getMessage());
        }
        String secret = status.bindingSecret != null ? status.bindingSecret : name + "-binding";
        return new Decision(true, patch(pod, name, secret, cacheBytes, pollMicros), null);
    }

    /** The annotation's poll time, null when absent; a bad value is refused with what to write. */
    static Long pollMicros(String text) {
        if (text == null) return null;
        try {
            long v = Long.parseLong(text.trim());
            if (v >= 0 && v <= MAX_POLL_MICROS) return v;
        } catch (NumberFormatException ignored) {
            // the message below says what is expected
        }
        throw new IllegalArgumentException("annotation " + POLL_ANNOTATION + " '" + text + "' must be a whole number of microseconds in 0.."
                + MAX_POLL_MICROS + " (0: the sidecar never polls, misses ring its doorbell)");
    }

    /** JSON Patch (RFC 6902) operations that add the label, volumes, mounts and the sidecar container. */
    List<Map<String, Object>> patch(Pod pod, String claim, String bindingSecret, long cacheBytes, Long pollMicros) {
        List<Map<String, Object>> ops = new ArrayList<>();
        if (pod.getMetadata().getLabels() == null) {
            ops.add(op("add", "/metadata/labels", Map.of(CLAIM_LABEL, claim)));
        } else {
            ops.add(op("add", "/metadata/labels/" + escape(CLAIM_LABEL), claim));
        }
        // One PID namespace: the sidecar and the application see each other die at once (see the sidecar package).
        if (pod.getSpec().getShareProcessNamespace() == null) ops.add(op("add", "/spec/shareProcessNamespace", true));
        long shmBytes = cacheBytes + CONTROL_AND_SLACK;
        Volume shm = new VolumeBuilder().withName(SHM_VOLUME).withNewEmptyDir().withMedium("Memory")
                .withSizeLimit(new Quantity(Long.toString(shmBytes))).endEmptyDir().build();
        Volume binding = new VolumeBuilder().withName(BINDING_VOLUME).withNewSecret().withSecretName(bindingSecret).endSecret().build();
        if (pod.getSpec().getVolumes() == null || pod.getSpec().getVolumes().isEmpty()) {
            ops.add(op("add", "/spec/volumes", List.of(json(shm), json(binding))));
        } else {
            ops.add(op("add", "/spec/volumes/-", json(shm)));
            ops.add(op("add", "/spec/volumes/-", json(binding)));
        }
        List<Container> containers = pod.getSpec().getContainers();
        VolumeMount appMount = new VolumeMountBuilder().withName(SHM_VOLUME).withMountPath(SHM_PATH).build();
        EnvVar appEnv = new EnvVarBuilder().withName("FARMEM_SHM_DIR").withValue(SHM_PATH).build();
        for (int i = 0; i < containers.size(); i++) {
            Container c = containers.get(i);
            String base = "/spec/containers/" + i;
            if (c.getVolumeMounts() == null || c.getVolumeMounts().isEmpty()) ops.add(op("add", base + "/volumeMounts", List.of(json(appMount))));
            else ops.add(op("add", base + "/volumeMounts/-", json(appMount)));
            if (c.getEnv() == null || c.getEnv().isEmpty()) ops.add(op("add", base + "/env", List.of(json(appEnv))));
            else ops.add(op("add", base + "/env/-", json(appEnv)));
        }
        ops.add(op("add", "/spec/containers/-", json(sidecar(cacheBytes, pollMicros, pod))));
        return ops;
    }

    /**
     * Restricted (Pod Security Standards), and the application's own user and group when the
     * pod states them: the application must write the cache region and control file the sidecar
     * creates (rw-rw----). An application whose user only its image knows shares them through
     * the pod's fsGroup, which a Memory emptyDir gives every file created in it.
     */
    static SecurityContext securityContext(Pod pod) {
        Container app = pod.getSpec().getContainers().get(0);
        SecurityContext c = app.getSecurityContext();
        PodSecurityContext p = pod.getSpec().getSecurityContext();
        Long uid = c != null && c.getRunAsUser() != null ? c.getRunAsUser() : p != null ? p.getRunAsUser() : null;
        Long gid = c != null && c.getRunAsGroup() != null ? c.getRunAsGroup() : p != null ? p.getRunAsGroup() : null;
        // root may open the sidecar's files whoever owns them; the sidecar itself never runs as root
        long user = uid != null && uid > 0 ? uid : SIDECAR_UID;
        long group = gid != null && gid > 0 ? gid : user;
        return new SecurityContextBuilder()
                .withRunAsNonRoot(true).withRunAsUser(user).withRunAsGroup(group)
                .withAllowPrivilegeEscalation(false)
                .withNewCapabilities().addToDrop("ALL").endCapabilities()
                .withNewSeccompProfile().withType("RuntimeDefault").endSeccompProfile()
                .build();
    }

    Container sidecar(long cacheBytes, Long pollMicros, Pod pod) {
        // The cache lives in the shared emptyDir (tmpfs, charged to the pod's memory): the limit covers it, the heap and the slack.
        Quantity memory = new Quantity(Long.toString(cacheBytes + CONTROL_AND_SLACK + SIDECAR_HEAP));
        ContainerBuilder sidecar = new ContainerBuilder()
                .withName(CONTAINER)
                .withImage(settings.image())
                .withImagePullPolicy(settings.pullPolicy())
                .addNewEnv().withName("FARMEM_BINDING").withValue(BINDING_PATH).endEnv()
                .addNewEnv().withName("FARMEM_SHM_DIR").withValue(SHM_PATH).endEnv()
                .addNewEnv().withName("FARMEM_CACHE_BYTES").withValue(Long.toString(cacheBytes)).endEnv()
                // The pod's own address, as every farmem process binds: pods that share a host never collide on the port.
                .addNewEnv().withName("FARMEM_POD_IP").withNewValueFrom().withNewFieldRef().withFieldPath("status.podIP").endFieldRef()
                .endValueFrom().endEnv()
                .addNewEnv().withName("FARMEM_METRICS_ADDRESS").withValue("$(FARMEM_POD_IP):" + settings.metricsPort()).endEnv()
                .addNewEnv().withName("JAVA_TOOL_OPTIONS").withValue("-Xmx" + (SIDECAR_HEAP >> 20) / 2 + "m").endEnv()
                .addNewPort().withName("farmem-metrics").withContainerPort(settings.metricsPort()).withProtocol("TCP").endPort()
                .withSecurityContext(securityContext(pod))
                .addNewVolumeMount().withName(SHM_VOLUME).withMountPath(SHM_PATH).endVolumeMount()
                .addNewVolumeMount().withName(BINDING_VOLUME).withMountPath(BINDING_PATH).withReadOnly(true).endVolumeMount()
                .withNewResources()
                .addToRequests("cpu", new Quantity(settings.cpuRequest()))
                .addToRequests("memory", memory)
                .addToLimits("memory", memory)
                .endResources();
        if (pollMicros != null) sidecar.addNewEnv().withName("FARMEM_POLL_MICROS").withValue(Long.toString(pollMicros)).endEnv();
        return sidecar.build();
    }

    private static Map<String, Object> op(String op, String path, Object value) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("op", op);
        m.put("path", path);
        m.put("value", value);
        return m;
    }

    /** JSON Pointer escaping of one path segment (RFC 6901). */
    static String escape(String segment) {
        return segment.replace("~", "~0").replace("/", "~1");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> json(Object model) {
        return Serialization.jsonMapper().convertValue(model, Map.class);
    }
}
