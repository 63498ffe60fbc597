package dev.farmem.operator;

import dev.farmem.operator.allocation.PoolAllocations;
import dev.farmem.operator.claim.ClaimReconciler;
import dev.farmem.operator.metrics.OperatorMetrics;
import dev.farmem.operator.pool.AgentDefaults;
import dev.farmem.operator.pool.PoolReconciler;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.EnvironmentDefaults;
import dev.farmem.http.HttpEndpoints;
import dev.farmem.http.PrometheusHandler;
import dev.farmem.operator.webhook.AdmissionWebhook;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.extended.leaderelection.LeaderCallbacks;
import io.javaoperatorsdk.operator.Operator;
import io.javaoperatorsdk.operator.api.config.LeaderElectionConfiguration;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.hotspot.DefaultExports;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Runs the farmem operator against the current kubeconfig (or the in-cluster service account).
 *
 * <pre>
 * ./farmem operator [--namespace farmem-system] [--metrics 0.0.0.0:8080] [--agent-service-account farmem-agent]
 *                   [--leader-election true|false]
 * </pre>
 * Every flag also reads an environment variable ({@link Flags}): FARMEM_NAMESPACE, FARMEM_METRICS,
 * FARMEM_AGENT_SERVICE_ACCOUNT, FARMEM_LEADER_ELECTION. What agent pods get when their pool does not
 * say comes from FARMEM_AGENT_IMAGE, FARMEM_IMAGE_PULL_POLICY, FARMEM_IMAGE_PULL_SECRETS and
 * FARMEM_RDMA_RESOURCE ({@link AgentDefaults}).
 */
public final class OperatorMain implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(OperatorMain.class);
    public static final String LEASE_NAME = "farmem-operator-leader";

    private final KubernetesClient client;
    private final Operator operator;
    private final HttpEndpoints metricsServer;
    private final AdmissionWebhook webhook; // null unless FARMEM_WEBHOOK_ENABLED=true

    /** Settings of one operator process. */
    public record Settings(String namespace, InetSocketAddress metrics, String agentServiceAccount, AgentDefaults agentDefaults,
                           boolean leaderElection, String identity, boolean exitOnLostLeadership) {}

    public OperatorMain(Settings settings, KubernetesClient client) throws IOException {
        this.client = client;
        ensureNamespace(client, settings.namespace());
        CollectorRegistry registry = new CollectorRegistry(true);
        DefaultExports.register(registry);
        OperatorMetrics metrics = new OperatorMetrics(registry);
        PoolAllocations allocations = new PoolAllocations();
        this.operator = new Operator(o -> {
            o.withKubernetesClient(client).withMetrics(metrics).withCloseClientOnStop(false);
            if (settings.leaderElection()) {
                // Only the leader allocates: two replicas never hand out a slab twice.
                o.withLeaderElectionConfiguration(new LeaderElectionConfiguration(LEASE_NAME, settings.namespace(),
                        LeaderElectionConfiguration.LEASE_DURATION_DEFAULT_VALUE, LeaderElectionConfiguration.RENEW_DEADLINE_DEFAULT_VALUE,
                        LeaderElectionConfiguration.RETRY_PERIOD_DEFAULT_VALUE, settings.identity(),
                        new LeaderCallbacks(() -> LOG.info("leading as {}", settings.identity()), () -> LOG.warn("lost leadership"), id -> { }),
                        settings.exitOnLostLeadership()));
            }
        });
        PoolReconciler pools = new PoolReconciler(settings.namespace(), settings.agentServiceAccount(), settings.agentDefaults(), allocations, metrics);
        operator.register(pools, pools.configuration());
        operator.register(new ClaimReconciler(settings.namespace(), allocations, metrics));

        this.metricsServer = new HttpEndpoints("farmem-metrics", settings.metrics(), null, Map.of(
                "/healthz", request -> health(operator),
                "/metrics", new PrometheusHandler(registry)), 0);
        operator.start();
        this.webhook = AdmissionWebhook.startIfEnabled(client, settings.namespace());
        LOG.info("farmem operator started: namespace {}, metrics on {}, leader election {}", settings.namespace(),
                metricsServer.port(), settings.leaderElection());
    }

    /** The port /metrics and /healthz are served on. */
    public int metricsPort() {
        return metricsServer.port();
    }

    private static HttpEndpoints.Response health(Operator operator) {
        boolean healthy = !operator.getRuntimeInfo().isStarted() || operator.getRuntimeInfo().allEventSourcesAreHealthy();
        return HttpEndpoints.Response.text(healthy ? 200 : 503,
                healthy ? "ok\n" : "unhealthy event sources: " + operator.getRuntimeInfo().unhealthyEventSources() + "\n");
    }

    @Override
    public void close() {
        operator.stop();
        metricsServer.close();
        if (webhook != null) webhook.close();
    }

    private static void ensureNamespace(KubernetesClient client, String namespace) {
        if (client.namespaces().withName(namespace).get() != null) return;
        try {
            client.resource(new NamespaceBuilder().withNewMetadata().withName(namespace).endMetadata().build()).create();
            LOG.info("created namespace {} for agent pods", namespace);
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) throw e;
        }
    }

    /** The operator's flags, each also read from its FARMEM_* variable (the Helm chart sets those). */
    @Command(name = "./farmem operator", sortOptions = false,
            description = {"Runs the farmem operator against the current kubeconfig (or the in-cluster service account).", ""},
            footer = {"", "What agent pods get when their pool does not say comes from FARMEM_AGENT_IMAGE, FARMEM_IMAGE_PULL_POLICY,",
                "FARMEM_IMAGE_PULL_SECRETS and FARMEM_RDMA_RESOURCE."})
    static final class Flags {
        @Option(names = "--namespace", paramLabel = "NS", defaultValue = "farmem-system",
                description = "where the agent pods, their Leases, the pool key Secrets and the leader Lease live")
        String namespace;
        @Option(names = "--metrics", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:8080", description = "serves /metrics and /healthz")
        String metrics;
        @Option(names = "--agent-service-account", paramLabel = "NAME", defaultValue = "farmem-agent",
                description = "the service account agent pods run as")
        String agentServiceAccount;
        @Option(names = "--leader-election", paramLabel = "true|false", arity = "1", defaultValue = "true",
                description = "only the leader of several operator replicas allocates slabs")
        boolean leaderElection;

        /** The settings of this process; throws IllegalArgumentException saying which value is wrong. */
        Settings settings(Map<String, String> env) {
            String identity = env.getOrDefault("HOSTNAME", "").isEmpty() ? "farmem-operator" : env.get("HOSTNAME");
            // A deposed leader exits: its in-memory allocation must never act again.
            return new Settings(namespace, address(metrics), agentServiceAccount, AgentDefaults.from(env::get), leaderElection,
                    identity + "-" + ProcessHandle.current().pid(), true);
        }
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> env = System.getenv();
        Settings settings = Cli.of(new Flags(), EnvironmentDefaults.everyOption(env)).parseOrExit(args, f -> f.settings(env));
        KubernetesClient client = new KubernetesClientBuilder().build();
        OperatorMain main = new OperatorMain(settings, client);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            main.close();
            client.close();
        }, "farmem-operator-shutdown"));
        Thread.currentThread().join();
    }

    static InetSocketAddress address(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) throw new IllegalArgumentException("metrics address '" + hostPort + "' is not HOST:PORT, e.g. 0.0.0.0:8080");
        try {
            return new InetSocketAddress(hostPort.substring(0, colon), Integer.parseInt(hostPort.substring(colon + 1)));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("metrics address '" + hostPort + "' has a port that is not a number");
        }
    }
}
