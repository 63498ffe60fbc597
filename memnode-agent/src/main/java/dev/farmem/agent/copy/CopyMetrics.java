package dev.farmem.agent.copy;

import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.Counter;
import io.prometheus.client.Gauge;
import java.util.function.LongSupplier;

/** The agent's copy metrics (re-replication), named as in docs/metrics.md. */
final class CopyMetrics {

    private final Counter copied;
    private final Counter started;
    private final Counter failed;

    CopyMetrics(CollectorRegistry registry, LongSupplier bytesToGo) {
        copied = Counter.build("farmem_agent_copy_bytes_total", "Bytes a copy filled into joining slabs from a source agent.").register(registry);
        started = Counter.build("farmem_agent_copies_started_total", "Copies started (a restart after a failure counts again).").register(registry);
        failed = Counter.build("farmem_agent_copies_failed_total", "Copies that stopped on an error (the operator restarts them).").register(registry);
        Gauge toGo = Gauge.build("farmem_agent_copy_bytes_to_go", "Bytes the copies still have to fill.").register(registry);
        toGo.setChild(new Gauge.Child() {
            @Override
            public double get() {
                return bytesToGo.getAsLong();
            }
        });
    }

    void copied(long bytes) {
        copied.inc(bytes);
    }

    void started() {
        started.inc();
    }

    void failed() {
        failed.inc();
    }
}
