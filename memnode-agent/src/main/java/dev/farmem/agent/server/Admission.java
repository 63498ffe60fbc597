package dev.farmem.agent.server;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.metrics.AgentMetrics.Closed;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What the connections of one server share: the count of those not yet authenticated, and whether the server drains. */
final class Admission {

    private static final Logger LOG = LoggerFactory.getLogger(AgentServer.class);
    /** At most one log line per this many nanoseconds about refused connections; the metric counts them all. */
    private static final long LOG_EVERY_NANOS = 10_000_000_000L;

    final ConnectionLimits limits;
    private final AgentMetrics metrics;
    private final AtomicInteger unauthenticated = new AtomicInteger();
    private final AtomicLong refusedSinceLog = new AtomicLong();
    private final AtomicLong lastLog = new AtomicLong(System.nanoTime() - LOG_EVERY_NANOS);
    private volatile boolean draining;

    Admission(ConnectionLimits limits, AgentMetrics metrics) {
        this.limits = limits;
        this.metrics = metrics;
    }

    /** A new connection, not authenticated yet: false when it is over the limit (it still counts until {@link #left}). */
    boolean arrived(Object peer) {
        int now = unauthenticated.incrementAndGet();
        metrics.unauthenticated(now);
        if (now <= limits.maxUnauthenticated()) return true;
        metrics.closed(Closed.UNAUTHENTICATED_LIMIT);
        long refused = refusedSinceLog.incrementAndGet();
        long last = lastLog.get();
        long t = System.nanoTime();
        if (t - last >= LOG_EVERY_NANOS && lastLog.compareAndSet(last, t)) {
            refusedSinceLog.addAndGet(-refused);
            LOG.warn("refused {} connection(s) (latest from {}): {} connections are already waiting to present a HELLO, the limit"
                    + " (--max-unauthenticated) is {}", refused, peer, now - 1, limits.maxUnauthenticated());
        }
        return false;
    }

    /** A connection counted by {@link #arrived} authenticated or closed. */
    void left() {
        metrics.unauthenticated(unauthenticated.decrementAndGet());
    }

    void drain() {
        draining = true;
    }

    boolean draining() {
        return draining;
    }
}
