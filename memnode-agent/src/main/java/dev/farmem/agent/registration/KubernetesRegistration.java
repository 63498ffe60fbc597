package dev.farmem.agent.registration;

import dev.farmem.agent.AgentInfo;
import dev.farmem.agent.AgentRegistration;
import dev.farmem.common.token.Incarnation;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's side of registration in Kubernetes: it writes its own MemoryNode's status (endpoint,
 * capacity, slabs, version) and renews the Lease of the same name, both created by the operator.
 * It needs nothing more from the API: get and patch of memorynodes/status, get and patch of its
 * Lease. On SIGTERM it reports itself Lost at once, since its region is about to vanish.
 *
 * <p>The status names the agent's incarnation, written once: an agent that finds another incarnation
 * there is a restart under the same name, its region empty, and refuses to start. So a MemoryNode's
 * incarnation never changes, and the tokens the operator issued for it stay the only ones that open it.
 *
 * <p>The namespace of the Lease comes from FARMEM_NAMESPACE (the Downward API), else the service
 * account's namespace file.
 */
public final class KubernetesRegistration implements AgentRegistration {
    private static final Logger LOG = LoggerFactory.getLogger(KubernetesRegistration.class);
    private static final Path SERVICE_ACCOUNT_NAMESPACE = Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
    /** A third of the operator's 15 s lease: two renewals may fail before the node is Lost. */
    static final long RENEW_SECONDS = 5;

    private final KubernetesClient client;
    private final String namespace;
    private final ScheduledExecutorService renewer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "farmem-lease-renewer");
        t.setDaemon(true);
        return t;
    });
    private volatile String name;
    private volatile AgentInfo info;

    /** Used by AgentMain: the in-cluster client. */
    public KubernetesRegistration() {
        this(inClusterClient(), namespace());
    }

    /** The client of the cluster this process runs in, or a clear refusal when it runs in none. */
    private static KubernetesClient inClusterClient() {
        String kubeconfig = System.getenv("KUBECONFIG");
        boolean hasKubeconfig = (kubeconfig != null && !kubeconfig.isEmpty())
                || Files.isRegularFile(Path.of(System.getProperty("user.home"), ".kube", "config"));
        if (System.getenv("KUBERNETES_SERVICE_HOST") == null && !hasKubeconfig) {
            throw new IllegalStateException("--registration kubernetes, but this process is not in a Kubernetes cluster"
                    + " (KUBERNETES_SERVICE_HOST is not set) and has no kubeconfig (KUBECONFIG, ~/.kube/config):"
                    + " run the agent in its pod, or outside a cluster with --registration none");
        }
        return new KubernetesClientBuilder().build();
    }

    public KubernetesRegistration(KubernetesClient client, String namespace) {
        this.client = client;
        this.namespace = namespace;
    }

    @Override
    public void started(AgentInfo info) {
        this.info = info;
        this.name = info.node();
        MemoryNode m = client.resources(MemoryNode.class).withName(name).get();
        if (m == null) {
            throw new IllegalStateException("MemoryNode " + name + " does not exist: the operator creates it when it places an agent;"
                    + " run the agent outside a pool with --registration none");
        }
        String refusal = refusal(name, m.getStatus(), info.incarnation());
        if (refusal != null) throw new IllegalStateException(refusal);
        if (client.leases().inNamespace(namespace).withName(name).get() == null) {
            throw new IllegalStateException("Lease " + namespace + "/" + name + " does not exist: the operator creates it with the MemoryNode");
        }
        writeStatus("Starting", false, "Started", "region allocated, data port listening");
        renew();
    }

    @Override
    public void ready() {
        writeStatus(MemoryNodeStatus.READY, true, "Serving", "serving " + info.slabCount() + " slabs on " + info.advertised());
        renewer.scheduleAtFixedRate(this::renewQuietly, RENEW_SECONDS, RENEW_SECONDS, TimeUnit.SECONDS);
        LOG.info("registered as MemoryNode {} (Lease {}/{})", name, namespace, name);
    }

    @Override
    public void stopping() {
        renewer.shutdownNow();
        writeStatus(MemoryNodeStatus.LOST, false, "AgentStopped", "the agent stopped: its region is gone");
        client.close();
    }

    /**
     * Why an agent of {@code incarnation} must not serve MemoryNode {@code name} with this status, or null when it may:
     * a Lost node is final, and a node another incarnation served is a restart under the same name, whose region is empty.
     */
    static String refusal(String name, MemoryNodeStatus status, long incarnation) {
        if (status == null) return null;
        if (MemoryNodeStatus.LOST.equals(status.phase)) {
            return "MemoryNode " + name + " is already Lost: a new agent must be a new memory node; the operator places one";
        }
        if (status.incarnation != null && !status.incarnation.equals(Incarnation.format(incarnation))) {
            return "MemoryNode " + name + " was served by incarnation " + status.incarnation + ", and this agent is incarnation "
                    + Incarnation.format(incarnation) + " with an empty region: a restarted agent must be a new memory node,"
                    + " so that no client takes the empty region for its data; the operator places one when this pod ends";
        }
        return null;
    }

    private void writeStatus(String phase, boolean ready, String reason, String message) {
        AgentInfo i = info;
        MemoryNode m = client.resources(MemoryNode.class).withName(name).get();
        if (m == null) throw new IllegalStateException("MemoryNode " + name + " was deleted: the operator retired this agent");
        MemoryNodeStatus s = m.getStatus() == null ? new MemoryNodeStatus() : m.getStatus();
        if (MemoryNodeStatus.LOST.equals(s.phase)) return; // Lost is final: the operator has replaced this node.
        s.phase = phase;
        s.endpoint = i.advertised().toString();
        s.incarnation = Incarnation.format(i.incarnation());
        s.capacityBytes = i.capacityBytes();
        s.slabSizeBytes = i.slabSize();
        s.slabs = i.slabCount();
        s.version = i.version();
        s.transport = i.transport();
        s.conditions = readyCondition(s.conditions, ready, reason, message, m.getMetadata().getGeneration());
        m.setStatus(s);
        m.getMetadata().setManagedFields(null);
        // A merge patch carrying the resourceVersion: it fails rather than overwrite a Lost the operator just wrote.
        client.resource(m).patchStatus();
    }

    private void renew() {
        ZonedDateTime now = ZonedDateTime.now(ZoneOffset.UTC).truncatedTo(ChronoUnit.MICROS);
        client.leases().inNamespace(namespace).withName(name).edit(l -> {
            if (l.getSpec().getAcquireTime() == null) l.getSpec().setAcquireTime(now);
            l.getSpec().setHolderIdentity(name);
            l.getSpec().setRenewTime(now);
            return l;
        });
    }

    private void renewQuietly() {
        try {
            renew();
        } catch (KubernetesClientException e) {
            LOG.warn("cannot renew Lease {}/{}: {}", namespace, name, e.getMessage());
        }
    }

    private static List<Condition> readyCondition(List<Condition> old, boolean ready, String reason, String message, Long generation) {
        String status = ready ? "True" : "False";
        List<Condition> out = new ArrayList<>(old == null ? List.of() : old);
        Condition previous = out.stream().filter(c -> "Ready".equals(c.getType())).findFirst().orElse(null);
        String since = previous != null && status.equals(previous.getStatus()) ? previous.getLastTransitionTime()
                : Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        out.removeIf(c -> "Ready".equals(c.getType()));
        out.add(new ConditionBuilder().withType("Ready").withStatus(status).withReason(reason).withMessage(message)
                .withObservedGeneration(generation).withLastTransitionTime(since).build());
        return out;
    }

    private static String namespace() {
        String env = System.getenv("FARMEM_NAMESPACE");
        if (env != null && !env.isEmpty()) return env;
        try {
            return Files.readString(SERVICE_ACCOUNT_NAMESPACE).trim();
        } catch (IOException e) {
            throw new IllegalStateException("cannot tell the agent's namespace: set FARMEM_NAMESPACE (the pod does, from the Downward API)");
        }
    }
}
