package dev.farmem.client.sidecar;

import dev.farmem.client.engine.ClientMetrics;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's bookkeeping, every {@value #ROUND_MILLIS} ms: beats its heartbeat in the control
 * header, nudges the dispatcher to look at every slot (a request no bell announced), takes the
 * applications' counters into the metrics, reclaims the leases of applications that are gone,
 * and publishes the metrics in the header for the applications.
 *
 * <p>Thread: its own, {@code farmem-sidecar-housekeeper}; every method but {@link #start} and
 * {@link #close} is private and runs there. It never waits on the engine, so the heartbeat goes
 * on while a flush or a binding change takes long.
 */
final class Housekeeper implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Housekeeper.class);
    private static final long ROUND_MILLIS = 100;
    private static final long MY_PID_NAMESPACE = SharedControl.pidNamespace();

    private final SharedControl control;
    private final CurrentEngine current;
    private final ClientCounters counters;
    private final RequestDispatcher dispatcher;
    private final long leaseTimeoutMillis;
    private final AtomicInteger reclaimed = new AtomicInteger();
    private final Thread thread;
    private volatile boolean running = true;

    Housekeeper(SharedControl control, CurrentEngine current, ClientCounters counters, RequestDispatcher dispatcher, long leaseTimeoutMillis) {
        this.control = control;
        this.current = current;
        this.counters = counters;
        this.dispatcher = dispatcher;
        this.leaseTimeoutMillis = leaseTimeoutMillis;
        this.thread = new Thread(this::run, "farmem-sidecar-housekeeper");
        thread.setDaemon(true);
    }

    void start() {
        thread.start();
    }

    /** Leases of dead application processes reclaimed so far. */
    int reclaimedClients() {
        return reclaimed.get();
    }

    private void run() {
        while (running) {
            long now = System.currentTimeMillis();
            control.heartbeat(now);
            try {
                dispatcher.nudge();
                counters.takeInto(current.metrics());
                reclaimDeadClients(now);
                publishStats();
            } catch (RuntimeException e) {
                LOG.warn("sidecar housekeeping failed: {}", e.toString());
            }
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(ROUND_MILLIS));
        }
    }

    /**
     * An application that is gone loses its lease: its hazards are cleared so eviction may take
     * those frames again. Its dirty lines stay in the cache and are written back like any other.
     * In the sidecar's PID namespace (shareProcessNamespace, or one machine) a dead process is
     * seen at once and a live one is never reclaimed, however late its heartbeat; elsewhere a
     * heartbeat older than the lease timeout means gone.
     */
    private void reclaimDeadClients(long now) {
        for (int c = 0; c < control.maxClients(); c++) {
            long owner = control.owner(c);
            if (owner <= 0 || control.processStart(c) == 0) continue; // free, or still being taken
            long pid = control.pid(c);
            long ns = control.pidNamespace(c);
            boolean gone = ns != 0 && ns == MY_PID_NAMESPACE
                    ? SharedControl.surelyDead(pid, ns, control.processStart(c), MY_PID_NAMESPACE)
                    : now - control.clientHeartbeat(c) > leaseTimeoutMillis;
            if (!gone || !control.casOwner(c, owner, -1)) continue;
            for (int t = 0; t < control.threadsPerClient(); t++) {
                int slot = control.slot(c, t);
                for (int i = 0; i < SharedControl.HAZARDS; i++) control.hazard(slot, i, 0L);
                control.settle(slot);
                control.freeSlot(slot);
            }
            control.resetThreadsUsed(c);
            control.process(c, 0, 0, 0);
            control.owner(c, 0);
            reclaimed.incrementAndGet();
            LOG.warn("application process {} of claim {} stopped without closing (no heartbeat for {} ms): its lease and frames are reclaimed",
                    pid, current.binding().claim(), now - control.clientHeartbeat(c));
        }
    }

    private void publishStats() {
        ClientMetrics.Snapshot s = current.metrics().snapshot();
        long[] v = {s.hits(), s.misses(), s.evictions(), s.prefetches(), s.fetchedBytes(), s.writtenBackBytes(),
            s.writtenBackLines(), s.lineIdealBytes(), s.pageEquivalentBytes(), s.writebackErrors(), s.replicaFailures(), s.dirtyBytes()};
        for (int i = 0; i < v.length; i++) control.stat(i, v[i]);
    }

    /** Stops the rounds and waits for the current one to end. */
    @Override
    public void close() {
        running = false;
        thread.interrupt();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
