package dev.farmem.agent.rdma;

import dev.farmem.transport.ErrorCode;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import java.util.EnumMap;
import java.util.Locale;
import java.util.Map;

/**
 * The RDMA service's metrics, in the agent's registry beside TCP's (named in docs/metrics.md). The data path is
 * one-sided and never reaches the agent, so what the agent can count is its connections, the HELLOs it refused and
 * its slab registrations.
 */
public final class RdmaMetrics {

    /**
     * Why a connection was refused before or at its HELLO, besides a token the verifier refused (counted by code).
     * HANDSHAKE_TIMEOUT: its rdma_cm handshake did not complete within the HELLO timeout (the client abandoned it).
     */
    public enum Refused { HELLO_TIMEOUT, HELLO_TOO_LARGE, UNAUTHENTICATED_LIMIT, BEFORE_HELLO, HANDSHAKE_TIMEOUT;
        String label() { return name().toLowerCase(Locale.ROOT); }
    }

    private final Gauge connections;
    private final Gauge unauthenticated;
    private final Map<Refused, Counter.Child> refused = new EnumMap<>(Refused.class);
    private final Map<ErrorCode, Counter.Child> refusedTokens = new EnumMap<>(ErrorCode.class);
    private final Counter registrations;
    private final Counter revocations;
    private final Counter expired;

    public RdmaMetrics(CollectorRegistry registry) {
        connections = Gauge.build("farmem_agent_rdma_connections", "Open RDMA (rdma_cm) client connections.").register(registry);
        unauthenticated = Gauge.build("farmem_agent_rdma_unauthenticated_connections",
                "Open RDMA connections that have not presented their HELLO.").register(registry);
        Counter r = Counter.build("farmem_agent_rdma_hellos_refused_total",
                "RDMA connections refused at or before HELLO: a limit (hello_timeout, hello_too_large, unauthenticated_limit, before_hello,"
                        + " handshake_timeout)"
                        + " or the token's error code in lower case (unauthenticated, token_expired, stale_incarnation, ...).")
                .labelNames("reason").register(registry);
        for (Refused why : Refused.values()) refused.put(why, r.labels(why.label()));
        for (ErrorCode c : ErrorCode.values()) refusedTokens.put(c, r.labels(c.name().toLowerCase(Locale.ROOT)));
        registrations = Counter.build("farmem_agent_rdma_slab_registrations_total",
                "Slab registrations made (ibv_reg_mr): at a slab's first grant and again at the first grant after each fence.").register(registry);
        revocations = Counter.build("farmem_agent_rdma_slab_revocations_total",
                "Slab registrations dropped because a newer claim or epoch took the slab over: the keys older runtimes hold stop working.")
                .register(registry);
        expired = Counter.build("farmem_agent_rdma_connections_expired_total",
                "RDMA connections the agent ended because their token expired (an ERROR TOKEN_EXPIRED, then a disconnect).").register(registry);
    }

    public void connectionOpened() {
        connections.inc();
    }

    public void connectionClosed() {
        connections.dec();
    }

    public void unauthenticated(int count) {
        unauthenticated.set(count);
    }

    public void refused(Refused why) {
        refused.get(why).inc();
    }

    public void refusedToken(ErrorCode code) {
        refusedTokens.get(code).inc();
    }

    public void registered() {
        registrations.inc();
    }

    public void revoked() {
        revocations.inc();
    }

    public void expired() {
        expired.inc();
    }

    public double connections() {
        return connections.get();
    }

    public double refusedFor(Refused why) {
        return refused.get(why).get();
    }

    public double refusedTokens(ErrorCode code) {
        return refusedTokens.get(code).get();
    }

    public double registrations() {
        return registrations.get();
    }

    public double revocations() {
        return revocations.get();
    }

    public double expirations() {
        return expired.get();
    }
}
