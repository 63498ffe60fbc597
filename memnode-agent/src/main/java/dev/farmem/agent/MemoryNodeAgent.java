package dev.farmem.agent;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.rdma.RdmaMetrics;
import dev.farmem.agent.rdma.RdmaService;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.agent.server.AgentServer;
import dev.farmem.common.Endpoint;
import dev.farmem.common.token.Incarnation;
import dev.farmem.transport.tcp.EventLoops;
import dev.farmem.agent.server.TokenVerifier;
import io.prometheus.client.CollectorRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;

/**
 * One memory node: its region of slabs, its TCP server (and RDMA service when asked), its metrics. Started by AgentMain or an EmbeddedPool.
 * Each start is a new {@link Incarnation}: the region is new, so tokens issued for an earlier start are refused.
 */
public final class MemoryNodeAgent implements AutoCloseable {

    public static final String VERSION = versionOf();

    private final AgentSettings settings;
    private final SlabStore store;
    private final AgentMetrics metrics;
    private final AgentServer server;
    private final TokenVerifier verifier;
    private volatile RdmaService rdma;
    /** Registered with TCP's even when the agent serves TCP only: the documented names always exist (zero then). */
    private final RdmaMetrics rdmaMetrics;

    private MemoryNodeAgent(AgentSettings settings, CollectorRegistry registry) {
        this.settings = settings;
        this.verifier = new TokenVerifier(settings.key(), settings.node(), Incarnation.draw());
        this.store = SlabStore.allocate(settings.capacity(), settings.slabSize(), settings.backingFile());
        this.metrics = new AgentMetrics(registry, VERSION, "tcp-" + EventLoops.kind());
        metrics.region(store.capacity(), store.slabCount());
        metrics.slabsOwned(0);
        this.rdmaMetrics = new RdmaMetrics(registry);
        this.server = AgentServer.start(settings.listen(), store, verifier, metrics, settings.maxFrameSize(), settings.maxSegments(),
                settings.ioThreads(), settings.limits());
    }

    /** Allocates the region and starts serving; metrics go to {@code registry}. */
    public static MemoryNodeAgent start(AgentSettings settings, CollectorRegistry registry) {
        return new MemoryNodeAgent(settings, registry);
    }

    public String node() {
        return settings.node();
    }

    /** This process's {@link Incarnation}: tokens must name it. */
    public long incarnation() {
        return verifier.incarnation();
    }

    public Endpoint endpoint() {
        return server.endpoint();
    }

    /**
     * Serves RDMA beside TCP, on {@code host} (an RDMA device's address: the advertised one when TCP listens on a
     * wildcard) and the TCP port number (rdma_cm's port space is its own), so one endpoint in a binding serves both.
     * Returns the RDMA endpoint; throws {@link IllegalStateException} saying why when RDMA cannot be served.
     */
    public synchronized Endpoint serveRdma(String host) {
        if (rdma == null) rdma = RdmaService.start(new InetSocketAddress(host, endpoint().port()), store, verifier, settings.limits(), rdmaMetrics);
        return rdma.endpoint();
    }

    /** The RDMA service, or null when this agent serves TCP only. */
    public RdmaService rdma() {
        return rdma;
    }

    public AgentMetrics metrics() {
        return metrics;
    }

    public SlabStore store() {
        return store;
    }

    /** Stops accepting, finishes requests already received, closes connections. */
    public void drain(Duration timeout) {
        server.drain(timeout);
        if (rdma != null) rdma.close();
    }

    /** Stops at once, dropping connections (a failed node). */
    @Override
    public void close() {
        if (rdma != null) rdma.close();
        server.close();
    }

    private static String versionOf() {
        String v = MemoryNodeAgent.class.getPackage().getImplementationVersion();
        return v == null ? "dev" : v;
    }
}
