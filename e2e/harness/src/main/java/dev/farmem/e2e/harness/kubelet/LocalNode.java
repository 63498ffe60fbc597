package dev.farmem.e2e.harness.kubelet;

import io.fabric8.kubernetes.api.model.NodeAddressBuilder;
import io.fabric8.kubernetes.api.model.NodeBuilder;
import io.fabric8.kubernetes.api.model.NodeCondition;
import io.fabric8.kubernetes.api.model.NodeConditionBuilder;
import io.fabric8.kubernetes.api.model.NodeStatus;
import io.fabric8.kubernetes.api.model.NodeStatusBuilder;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/** One registered Node: its object, its Ready condition and its Lease heartbeat in kube-node-lease. */
final class LocalNode {
    private static final Logger LOG = Logger.getLogger(LocalNode.class.getName());
    private static final long LEASE_SECONDS = 40;
    private static final DateTimeFormatter MICRO_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'").withZone(ZoneOffset.UTC);

    private final KubernetesClient client;
    private final NodeSpec spec;
    private final String kubeletVersion;
    private final AtomicLong beats = new AtomicLong();
    private final String readySince = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
    private volatile ScheduledFuture<?> heartbeat;

    LocalNode(KubernetesClient client, NodeSpec spec, String kubeletVersion) {
        this.client = client;
        this.spec = spec;
        this.kubeletVersion = kubeletVersion;
    }

    NodeSpec spec() { return spec; }
    boolean running() { return heartbeat != null && !heartbeat.isCancelled(); }

    /** Creates the Node (or takes over an existing one), reports it Ready and starts the heartbeats. */
    void start(ScheduledExecutorService scheduler) {
        Map<String, String> labels = new LinkedHashMap<>(spec.labels());
        labels.put("kubernetes.io/hostname", spec.name());
        labels.put("kubernetes.io/os", "linux");
        labels.put("kubernetes.io/arch", "amd64");
        labels.put("farmem.dev/local-kubelet", "true");
        if (client.nodes().withName(spec.name()).get() == null) {
            client.nodes().resource(new NodeBuilder().withNewMetadata().withName(spec.name()).withLabels(labels).endMetadata()
                    .withNewSpec().endSpec().build()).create();
        } else {
            client.nodes().withName(spec.name()).edit(n -> {
                n.getMetadata().getLabels().putAll(labels);
                return n;
            });
        }
        reportStatus();
        renewLease();
        heartbeat = scheduler.scheduleWithFixedDelay(this::beat, 2, 2, TimeUnit.SECONDS);
    }

    /** Heartbeats cease: the node controller will mark the node NotReady, as for a lost machine. */
    void stop() {
        ScheduledFuture<?> h = heartbeat;
        if (h != null) {
            h.cancel(false);
        }
    }

    private void beat() {
        try {
            renewLease();
            if (beats.incrementAndGet() % 5 == 0) {
                reportStatus();
            }
        } catch (RuntimeException e) {
            LOG.log(Level.FINE, "heartbeat of " + spec.name() + " failed; retrying", e);
        }
    }

    private void renewLease() {
        String now = MICRO_TIME.format(Instant.now());
        String patch = "{\"spec\":{\"holderIdentity\":\"" + spec.name() + "\",\"leaseDurationSeconds\":" + LEASE_SECONDS
                + ",\"renewTime\":\"" + now + "\"}}";
        try {
            client.leases().inNamespace("kube-node-lease").withName(spec.name()).patch(PatchContext.of(PatchType.JSON_MERGE), patch);
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) {
                throw e;
            }
            var node = client.nodes().withName(spec.name()).get();
            String lease = "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\",\"metadata\":{\"name\":\"" + spec.name()
                    + "\",\"namespace\":\"kube-node-lease\",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"name\":\""
                    + spec.name() + "\",\"uid\":\"" + node.getMetadata().getUid() + "\"}]}," + patch.substring(1, patch.length() - 1) + "}";
            client.leases().inNamespace("kube-node-lease").resource(Serialization.unmarshal(lease,
                    Lease.class)).create();
        }
    }

    private void reportStatus() {
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        Map<String, Quantity> capacity = Map.of(
                "cpu", new Quantity(Integer.toString(spec.cpus())),
                "memory", new Quantity(Long.toString(spec.memoryBytes())),
                "pods", new Quantity(Integer.toString(spec.maxPods())),
                "ephemeral-storage", new Quantity("100Gi"));
        NodeStatus status = new NodeStatusBuilder()
                .withCapacity(capacity).withAllocatable(capacity)
                .withConditions(
                        condition("Ready", "True", "KubeletReady", "farmem local kubelet is posting ready status", now),
                        condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", now),
                        condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", now),
                        condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", now))
                .withAddresses(new NodeAddressBuilder().withType("InternalIP").withAddress("127.0.0.1").build(),
                        new NodeAddressBuilder().withType("Hostname").withAddress(spec.name()).build())
                .withNewNodeInfo().withKubeletVersion(kubeletVersion).withKubeProxyVersion("")
                .withContainerRuntimeVersion("farmem-local://" + kubeletVersion).withOperatingSystem("linux").withArchitecture("amd64")
                .withOsImage("farmem local kubelet (processes on loopback)").withKernelVersion(System.getProperty("os.version"))
                .withMachineID(spec.name()).withSystemUUID(spec.name()).withBootID(readySince).endNodeInfo()
                .build();
        client.nodes().withName(spec.name()).subresource("status")
                .patch(PatchContext.of(PatchType.JSON_MERGE), Serialization.asJson(Map.of("status", status)));
    }

    private NodeCondition condition(String type, String status, String reason, String message, String now) {
        return new NodeConditionBuilder().withType(type).withStatus(status).withReason(reason).withMessage(message)
                .withLastHeartbeatTime(now).withLastTransitionTime(readySince).build();
    }

}
