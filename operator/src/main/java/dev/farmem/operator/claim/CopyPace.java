package dev.farmem.operator.claim;

import java.time.Duration;

/**
 * When the claim reconcile looks at a running copy again. A fixed poll (it was 2 s) made every heal wait up to a poll
 * after the agent had finished, which dominated the time to restore redundancy for claims of a few hundred MiB. The
 * agent answers COPY at once with bytes copied and to go, so the next look is timed for when the copy should be done at
 * the rate seen so far, never sooner than {@link #SHORTEST} (each look dials the agents and may write the status) and
 * never later than {@link #LONGEST} (the status's progress stays fresh, and a failure is seen soon). A copy with nothing
 * to go is looked at again at once: its binding is rewritten without the filling replica on that look.
 *
 * @param startNanos when the copy was first seen running (System.nanoTime), and {@code copiedAtStart} what it had copied then
 */
record CopyPace(long startNanos, long copiedAtStart) {

    static final Duration FIRST = Duration.ofMillis(200);
    static final Duration SHORTEST = Duration.ofMillis(50);
    static final Duration LONGEST = Duration.ofSeconds(2);
    static final Duration NOW = Duration.ofMillis(1);

    /** The pace of a copy first seen at {@code nowNanos}, having copied {@code copied}. */
    static CopyPace start(long nowNanos, long copied) {
        return new CopyPace(nowNanos, copied);
    }

    /** When to look again, at {@code nowNanos}, with {@code copied} bytes copied so far and {@code toGo} to go. */
    Duration next(long nowNanos, long copied, long toGo) {
        if (toGo <= 0) return NOW;
        long gained = copied - copiedAtStart;
        long elapsed = nowNanos - startNanos;
        if (gained <= 0 || elapsed <= 0) return FIRST;
        double nanosLeft = (double) toGo * elapsed / gained;
        long millis = (long) Math.ceil(nanosLeft / 1_000_000.0);
        return Duration.ofMillis(Math.max(SHORTEST.toMillis(), Math.min(LONGEST.toMillis(), millis)));
    }
}
