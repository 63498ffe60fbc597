package dev.farmem.operator.metrics;

import dev.farmem.crds.FarMemoryPoolStatus;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.javaoperatorsdk.operator.api.monitoring.Metrics;
import io.prometheus.client.Collector;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import io.prometheus.client.GaugeMetricFamily;
import io.prometheus.client.Histogram;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The operator's metrics, named as docs/metrics.md lists them. Also the bridge that JOSDK
 * reports reconciles through: its {@link Metrics} calls become simpleclient counters and a histogram.
 */
public final class OperatorMetrics implements Metrics {
    private final Gauge nodesDesired;
    private final Gauge nodesReady;
    private final Gauge nodesLost;
    private final Gauge capacity;
    private final Gauge allocated;
    private final Gauge degraded;
    private final Counter reconciles;
    private final Counter reconcileErrors;
    private final Histogram reconcileDuration;
    private final Gauge rereplicationToGo;
    private final Map<String, Boolean> pools = new ConcurrentHashMap<>();
    /** claim uid -> {pool, phase}, for the claims-by-phase gauge. */
    private final Map<String, String[]> claims = new ConcurrentHashMap<>();

    public OperatorMetrics(CollectorRegistry registry) {
        nodesDesired = Gauge.build("farmem_operator_pool_nodes_desired", "agents the pool wants").labelNames("pool").register(registry);
        nodesReady = Gauge.build("farmem_operator_pool_nodes_ready", "memory nodes Ready").labelNames("pool").register(registry);
        nodesLost = Gauge.build("farmem_operator_pool_nodes_lost", "memory nodes whose Lease expired").labelNames("pool").register(registry);
        capacity = Gauge.build("farmem_operator_pool_capacity_bytes", "bytes of Ready memory nodes").labelNames("pool").register(registry);
        allocated = Gauge.build("farmem_operator_pool_allocated_bytes", "bytes bound to claims, every replica counted")
                .labelNames("pool").register(registry);
        degraded = Gauge.build("farmem_operator_pool_degraded", "the pool's Degraded condition").labelNames("pool").register(registry);
        reconciles = Counter.build("farmem_operator_reconciles_total", "reconciles run").labelNames("controller").register(registry);
        reconcileErrors = Counter.build("farmem_operator_reconcile_errors_total", "reconciles that failed").labelNames("controller").register(registry);
        reconcileDuration = Histogram.build("farmem_operator_reconcile_duration_seconds", "one reconcile").labelNames("controller")
                .buckets(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5).register(registry);
        rereplicationToGo = Gauge.build("farmem_operator_claim_rereplication_bytes_to_go",
                "bytes the agent-to-agent copies of a claim still have to fill (0 when every slab has its replicas)").labelNames("pool", "claim").register(registry);
        new Collector() {
            @Override
            public List<MetricFamilySamples> collect() {
                GaugeMetricFamily poolCount = new GaugeMetricFamily("farmem_operator_pools", "FarMemoryPools known", pools.size());
                GaugeMetricFamily byPhase = new GaugeMetricFamily("farmem_operator_claims", "claims by phase", List.of("pool", "phase"));
                Map<List<String>, Integer> counts = new HashMap<>();
                for (String[] c : claims.values()) counts.merge(List.of(c[0], c[1]), 1, Integer::sum);
                counts.forEach((labels, n) -> byPhase.addMetric(labels, n));
                return List.of(poolCount, byPhase);
            }
        }.register(registry);
    }

    /** Records a pool's aggregated status. */
    public void pool(String pool, FarMemoryPoolStatus s) {
        pools.put(pool, Boolean.TRUE);
        nodesDesired.labels(pool).set(orZero(s.nodesDesired));
        nodesReady.labels(pool).set(orZero(s.nodesReady));
        nodesLost.labels(pool).set(orZero(s.nodesLost));
        capacity.labels(pool).set(s.bytesTotal == null ? 0 : s.bytesTotal);
        allocated.labels(pool).set(s.bytesAllocated == null ? 0 : s.bytesAllocated);
        boolean isDegraded = s.conditions.stream().anyMatch(c -> "Degraded".equals(c.getType()) && "True".equals(c.getStatus()));
        degraded.labels(pool).set(isDegraded ? 1 : 0);
    }

    public void forgetPool(String pool) {
        pools.remove(pool);
        for (Gauge g : List.of(nodesDesired, nodesReady, nodesLost, capacity, allocated, degraded)) g.remove(pool);
    }

    public void claim(String uid, String pool, String phase) {
        claims.put(uid, new String[] {pool, phase});
    }

    /** A claim's copies: bytes still to fill; 0 when none runs. {@code claim} is namespace/name. */
    public void rereplication(String claim, String pool, long bytesToGo) {
        if (bytesToGo == 0) {
            rereplicationToGo.remove(pool, claim);
        } else {
            rereplicationToGo.labels(pool, claim).set(bytesToGo);
        }
    }

    public void forgetClaim(String uid) {
        claims.remove(uid);
    }

    @Override
    public <T> T timeControllerExecution(ControllerExecution<T> execution) throws Exception {
        String controller = execution.controllerName();
        reconciles.labels(controller).inc();
        Histogram.Timer timer = reconcileDuration.labels(controller).startTimer();
        try {
            return execution.execute();
        } catch (Exception e) {
            reconcileErrors.labels(controller).inc();
            throw e;
        } finally {
            timer.observeDuration();
        }
    }

    @Override
    public void failedReconciliation(HasMetadata resource, Exception exception, Map<String, Object> metadata) {
        // Counted in timeControllerExecution, where the controller's name is known.
    }

    private static double orZero(Integer v) {
        return v == null ? 0 : v;
    }
}
