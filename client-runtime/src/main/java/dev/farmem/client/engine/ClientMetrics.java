package dev.farmem.client.engine;

import io.prometheus.client.Collector;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.CounterMetricFamily;
import io.prometheus.client.GaugeMetricFamily;
import io.prometheus.client.Histogram;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.LongAdder;

/**
 * The counters of one far memory, and their export as {@code farmem_client_*} (docs/metrics.md).
 * The hot paths only bump counters: hits a {@link ThreadLocalCounter} (no atomic instruction on
 * a hit), the rest {@link LongAdder}s. The collector reads them at scrape time, so the figures a
 * program asks for ({@link #snapshot()}) and the exported ones are the same numbers.
 */
public final class ClientMetrics {

    /**
     * Hits: bumped by the hit path ({@link #countHit()}), and in bulk by a sidecar, which adds the
     * counts its applications took with a {@link ThreadLocalCounter} of their own.
     */
    public final ThreadLocalCounter hits = new ThreadLocalCounter();
    public final LongAdder misses = new LongAdder();
    public final LongAdder evictions = new LongAdder();
    public final LongAdder prefetches = new LongAdder();
    public final LongAdder fetchedBytes = new LongAdder();
    public final LongAdder writtenBackBytes = new LongAdder();
    public final LongAdder writtenBackLines = new LongAdder();
    public final LongAdder lineIdealBytes = new LongAdder();
    public final LongAdder pageEquivalentBytes = new LongAdder();
    public final LongAdder writebackErrors = new LongAdder();
    public final LongAdder replicaFailures = new LongAdder();
    /** Dirty lines now in the cache (set by writers, taken by write-backs). */
    public final LongAdder dirtyLines = new LongAdder();
    /** Mask words that went from clean to dirty and are not written back yet; one per dirty 4 KiB block. */
    public final LongAdder dirtyWords = new LongAdder();

    private final Histogram fetchSeconds;
    private final Histogram writebackSeconds;
    private final Histogram.Child fetchChild;
    private final Histogram.Child writebackChild;
    private final Collector counters;
    private final CollectorRegistry registry;

    public ClientMetrics(String claim, long cacheBytes, CollectorRegistry registry) {
        this.registry = registry;
        double[] buckets = {10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 10e-3, 50e-3, 0.25, 1};
        fetchSeconds = Histogram.build("farmem_client_fetch_duration_seconds", "one block fetch, miss to data in the frame")
                .labelNames("claim").buckets(buckets).register(registry);
        writebackSeconds = Histogram.build("farmem_client_writeback_duration_seconds", "one block write-back, all replicas acknowledged")
                .labelNames("claim").buckets(buckets).register(registry);
        fetchChild = fetchSeconds.labels(claim);
        writebackChild = writebackSeconds.labels(claim);
        counters = new Collector() {
            @Override
            public List<MetricFamilySamples> collect() {
                List<String> labels = List.of("claim");
                List<String> values = List.of(claim);
                List<MetricFamilySamples> out = new ArrayList<>();
                out.add(new CounterMetricFamily("farmem_client_hits", "accesses served from the cache", labels)
                        .addMetric(values, totalHits()));
                counter(out, "farmem_client_misses", "accesses that fetched a block", misses);
                counter(out, "farmem_client_evictions", "frames evicted", evictions);
                counter(out, "farmem_client_prefetches", "blocks fetched ahead of a sequential stream", prefetches);
                counter(out, "farmem_client_fetched_bytes", "bytes fetched from memory nodes", fetchedBytes);
                counter(out, "farmem_client_written_back_bytes", "payload bytes written back (all replicas counted once)", writtenBackBytes);
                counter(out, "farmem_client_written_back_lines", "dirty lines written back", writtenBackLines);
                counter(out, "farmem_client_writeback_line_ideal_bytes", "64 B x distinct dirty lines at write-back time", lineIdealBytes);
                counter(out, "farmem_client_writeback_page_equivalent_bytes",
                        "what page (block) tracking would have written for the same write-backs", pageEquivalentBytes);
                counter(out, "farmem_client_writeback_errors", "write-backs that failed on every replica", writebackErrors);
                counter(out, "farmem_client_replica_failures", "requests that failed on one replica", replicaFailures);
                out.add(new GaugeMetricFamily("farmem_client_cache_capacity_bytes", "the cache budget", labels)
                        .addMetric(values, cacheBytes));
                out.add(new GaugeMetricFamily("farmem_client_cache_dirty_bytes", "64 B x dirty lines now in the cache", labels)
                        .addMetric(values, 64.0 * dirtyLines.sum()));
                return out;
            }

            private void counter(List<MetricFamilySamples> out, String name, String help, LongAdder value) {
                out.add(new CounterMetricFamily(name, help, List.of("claim")).addMetric(List.of(claim), value.sum()));
            }
        }.register(registry);
    }

    /** Counts one hit; no atomic instruction (see {@link ThreadLocalCounter}). */
    public void countHit() {
        hits.increment();
    }

    public long totalHits() {
        return hits.sum();
    }

    public void observeFetch(long nanos) {
        fetchChild.observe(nanos / 1e9);
    }

    public void observeWriteback(long nanos) {
        writebackChild.observe(nanos / 1e9);
    }

    public CollectorRegistry registry() {
        return registry;
    }

    /** Removes this far memory's collectors from the registry. */
    public void unregister() {
        registry.unregister(counters);
        registry.unregister(fetchSeconds);
        registry.unregister(writebackSeconds);
    }

    public Snapshot snapshot() {
        return new Snapshot(totalHits(), misses.sum(), evictions.sum(), prefetches.sum(), fetchedBytes.sum(),
                writtenBackBytes.sum(), writtenBackLines.sum(), lineIdealBytes.sum(), pageEquivalentBytes.sum(),
                writebackErrors.sum(), replicaFailures.sum(), 64L * dirtyLines.sum());
    }

    /** The counters at one moment. */
    public record Snapshot(long hits, long misses, long evictions, long prefetches, long fetchedBytes,
                           long writtenBackBytes, long writtenBackLines, long lineIdealBytes, long pageEquivalentBytes,
                           long writebackErrors, long replicaFailures, long dirtyBytes) {

        /** hits / (hits + misses), 0 when nothing was accessed. */
        public double hitRatio() {
            long all = hits + misses;
            return all == 0 ? 0 : (double) hits / all;
        }

        /** Bytes written back / the line ideal; 1.0 is perfect, 0 when nothing was written back. */
        public double writebackVsLineIdeal() {
            return lineIdealBytes == 0 ? 0 : (double) writtenBackBytes / lineIdealBytes;
        }

        /** The counters accumulated since {@code earlier}. */
        public Snapshot minus(Snapshot earlier) {
            return new Snapshot(hits - earlier.hits, misses - earlier.misses, evictions - earlier.evictions,
                    prefetches - earlier.prefetches, fetchedBytes - earlier.fetchedBytes,
                    writtenBackBytes - earlier.writtenBackBytes, writtenBackLines - earlier.writtenBackLines,
                    lineIdealBytes - earlier.lineIdealBytes, pageEquivalentBytes - earlier.pageEquivalentBytes,
                    writebackErrors - earlier.writebackErrors, replicaFailures - earlier.replicaFailures, dirtyBytes);
        }
    }
}
