package dev.farmem.agent.metrics;

import dev.farmem.transport.ErrorCode;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.Histogram;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.LongSupplier;

/** The agent's metrics, named as in docs/metrics.md. Children are looked up once, not per request. */
public final class AgentMetrics {

    /** The operations counted, as the {@code op} label spells them. */
    public enum Op { HELLO, READ, WRITEV, PING;
        String label() { return name().toLowerCase(Locale.ROOT); }
    }

    /** Why the agent closed a connection on its own, as the {@code reason} label spells them. */
    public enum Closed { HELLO_TIMEOUT, HELLO_TOO_LARGE, UNAUTHENTICATED_LIMIT, PARTIAL_FRAME_TIMEOUT, TOKEN_EXPIRED;
        String label() { return name().toLowerCase(Locale.ROOT); }
    }

    private final CollectorRegistry registry;
    private final Map<Closed, Counter.Child> closed = new EnumMap<>(Closed.class);
    private final Gauge unauthenticated;
    private final Counter readPauses;
    private final Gauge queuedBytes;
    private final Map<Op, Counter.Child> requests = new EnumMap<>(Op.class);
    private final Map<Op, Histogram.Child> durations = new EnumMap<>(Op.class);
    private final Map<ErrorCode, Counter.Child> errors = new EnumMap<>(ErrorCode.class);
    private final Counter readBytes;
    private final Counter writtenBytes;
    private final Gauge connections;
    private final Gauge slabsOwned;
    private final Gauge capacity;
    private final Gauge slabs;

    public AgentMetrics(CollectorRegistry registry, String version, String transport) {
        this.registry = registry;
        Counter req = Counter.build("farmem_agent_requests_total", "Requests served.").labelNames("op").register(registry);
        Histogram dur = Histogram.build("farmem_agent_request_duration_seconds", "Time from frame decoded to response written.")
                .labelNames("op")
                .buckets(0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
                .register(registry);
        Counter err = Counter.build("farmem_agent_request_errors_total", "Error frames sent.").labelNames("code").register(registry);
        for (Op op : Op.values()) {
            requests.put(op, req.labels(op.label()));
            durations.put(op, dur.labels(op.label()));
        }
        for (ErrorCode c : ErrorCode.values()) errors.put(c, err.labels(c.name()));
        readBytes = Counter.build("farmem_agent_read_bytes_total", "Bytes sent to clients by READ.").register(registry);
        writtenBytes = Counter.build("farmem_agent_written_bytes_total", "Bytes placed in the region by WRITEV.").register(registry);
        connections = Gauge.build("farmem_agent_connections", "Open client connections.").register(registry);
        capacity = Gauge.build("farmem_agent_capacity_bytes", "Bytes of the region.").register(registry);
        slabs = Gauge.build("farmem_agent_slabs", "Slabs in the region.").register(registry);
        slabsOwned = Gauge.build("farmem_agent_slabs_owned", "Slabs a claim has touched.").register(registry);
        Counter cl = Counter.build("farmem_agent_connections_refused_total", "Connections the agent closed for breaking a limit.")
                .labelNames("reason").register(registry);
        for (Closed c : Closed.values()) closed.put(c, cl.labels(c.label()));
        unauthenticated = Gauge.build("farmem_agent_unauthenticated_connections", "Open connections that have not completed HELLO.").register(registry);
        readPauses = Counter.build("farmem_agent_read_pauses_total",
                "Times a connection stopped being read because its queued responses reached the limit.").register(registry);
        queuedBytes = Gauge.build("farmem_agent_queued_bytes", "Response bytes queued for clients, not yet taken by the socket.").register(registry);
        Gauge.build("farmem_agent_info", "Build and transport.").labelNames("version", "transport").register(registry)
                .labels(version, transport).set(1);
    }

    public CollectorRegistry registry() {
        return registry;
    }

    public void served(Op op, long startNanos) {
        requests.get(op).inc();
        durations.get(op).observe((System.nanoTime() - startNanos) / 1e9);
    }

    public void error(ErrorCode code) {
        errors.get(code).inc();
    }

    public void read(long bytes) {
        readBytes.inc(bytes);
    }

    public void written(long bytes) {
        writtenBytes.inc(bytes);
    }

    public void connectionOpened() {
        connections.inc();
    }

    public void connectionClosed() {
        connections.dec();
    }

    public void closed(Closed reason) {
        closed.get(reason).inc();
    }

    public void unauthenticated(int count) {
        unauthenticated.set(count);
    }

    public void readPaused() {
        readPauses.inc();
    }

    /** Makes {@code farmem_agent_queued_bytes} read {@code bytes} at every scrape. */
    public void queuedBytes(LongSupplier bytes) {
        queuedBytes.setChild(new Gauge.Child() {
            @Override
            public double get() {
                return bytes.getAsLong();
            }
        });
    }

    public double queuedBytes() {
        return queuedBytes.get();
    }

    public double readPauses() {
        return readPauses.get();
    }

    public double closedFor(Closed reason) {
        return closed.get(reason).get();
    }

    public void region(long capacityBytes, int slabCount) {
        capacity.set(capacityBytes);
        slabs.set(slabCount);
    }

    public void slabsOwned(int count) {
        slabsOwned.set(count);
    }

    /** Served requests of one op so far (tests and the embedded pool's summary). */
    public double requests(Op op) {
        return requests.get(op).get();
    }

    public double errors(ErrorCode code) {
        return errors.get(code).get();
    }
}
