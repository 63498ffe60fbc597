package dev.farmem.client.sidecar;

import dev.farmem.client.BindingWatch;
import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.engine.CacheEngine;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.common.binding.Binding;
import io.prometheus.client.CollectorRegistry;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.BiFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Watches the binding (the mounted Secret). Renewed tokens of the same attach (the operator renews
 * them at half their life) go to the engine's router, which moves to new connections with them while
 * requests go on ({@link dev.farmem.client.engine.ReplicaRouter#renewTokens}). Any other change of
 * the same claim (a new epoch, endpoints, placement) rebuilds the engine over the same region with
 * new connections; lines the old tokens could not write back stay dirty and go out with the new ones. A binding of another claim or
 * geometry is refused (logged once): the pod must restart to use it.
 *
 * <p>Thread: its {@link BindingWatch}'s, {@code farmem-sidecar-binding}, which both reads the file and reloads; a
 * reload holds the engine's write lock, so requests wait for the new engine meanwhile. The
 * heartbeat is the housekeeper's, so a slow reload does not make the sidecar look dead.
 */
final class BindingReloader implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BindingReloader.class);

    private final Path path;
    private final CurrentEngine current;
    private final CacheRegion region;
    private final CollectorRegistry registry;
    private final BiFunction<Binding, ClientMetrics, CacheEngine> newEngine;
    private final BindingWatch watch;
    private Binding rejected; // logged once

    BindingReloader(Path path, long pollMillis, CurrentEngine current, CacheRegion region, CollectorRegistry registry,
                    BiFunction<Binding, ClientMetrics, CacheEngine> newEngine) {
        this.path = path;
        this.current = current;
        this.region = region;
        this.registry = registry;
        this.newEngine = newEngine;
        this.watch = new BindingWatch(path, "farmem-sidecar-binding", pollMillis, this::check);
    }

    private void check(Binding fresh) {
        Binding now = current.binding();
        if (fresh.equals(now) || fresh.equals(rejected)) return;
        if (!Objects.equals(fresh.claimUid(), now.claimUid()) || fresh.sizeBytes() != now.sizeBytes()
                || fresh.blockSize() != now.blockSize() || fresh.slabSize() != now.slabSize()) {
            LOG.error("binding {} now describes another claim ({} uid {}, {} bytes): this sidecar keeps serving claim {}; restart the pod "
                    + "to use the new claim", path, fresh.claim(), fresh.claimUid(), fresh.sizeBytes(), now.claim());
            rejected = fresh;
            return;
        }
        if (current.engine().router().renewTokens(fresh)) {
            // Renewed tokens of the same attach (every few minutes): new connections, same engine, no pause.
            current.tokensRenewed(fresh);
            LOG.info("tokens of claim {} renewed", fresh.claim());
            return;
        }
        reload(fresh);
    }

    private void reload(Binding fresh) {
        current.reloading(true);
        ReentrantReadWriteLock.WriteLock l = current.writeLock();
        l.lock();
        try {
            CacheEngine old = current.engine();
            ClientMetrics oldMetrics = current.metrics();
            try {
                old.close();
            } catch (RuntimeException e) {
                LOG.info("write-back with the old tokens failed, the new ones will retry: {}", e.getMessage());
            }
            ClientMetrics m = new ClientMetrics(fresh.claim(), (long) region.frameCount() * region.blockSize(), registry);
            carryOver(oldMetrics, m);
            current.replace(fresh, m, newEngine.apply(fresh, m));
            CrashRecovery.countDirty(region, m);
            LOG.info("binding of claim {} reloaded: epoch {}, {} memory nodes", fresh.claim(), fresh.epoch(), fresh.nodes().size());
        } catch (RuntimeException e) {
            LOG.error("reloading the binding of claim {} failed, requests will fail until it is fixed: {}", fresh.claim(), e.toString());
        } finally {
            l.unlock();
            current.reloading(false);
        }
    }

    private static void carryOver(ClientMetrics from, ClientMetrics to) {
        to.hits.add(from.hits.sum());
        LongAdder[][] pairs = {
            {from.misses, to.misses}, {from.evictions, to.evictions}, {from.prefetches, to.prefetches},
            {from.fetchedBytes, to.fetchedBytes}, {from.writtenBackBytes, to.writtenBackBytes},
            {from.writtenBackLines, to.writtenBackLines}, {from.lineIdealBytes, to.lineIdealBytes},
            {from.pageEquivalentBytes, to.pageEquivalentBytes}, {from.writebackErrors, to.writebackErrors},
            {from.replicaFailures, to.replicaFailures}};
        for (LongAdder[] p : pairs) p[1].add(p[0].sum());
    }

    /** Stops watching; a reload under way finishes first. */
    @Override
    public void close() {
        watch.close();
    }
}
