package dev.farmem.client.sidecar;

import dev.farmem.client.engine.ClientMetrics;
import java.util.Arrays;

/**
 * Takes what the applications counted themselves (hits, dirtied lines and mask words, published
 * in their leases) into the sidecar's metrics, adding what is new since the last time. A lease
 * taken by a new process starts again from zero; at start, the counts a previous sidecar already
 * took are the starting point, so a restart counts nothing twice.
 *
 * <p>Threads: the housekeeper, every round, and a worker serving a flush (an application about
 * to close publishes its final counts, then flushes, then gives its lease back). The two are
 * serialised by this object's monitor, the one lock of the sidecar's bookkeeping.
 */
final class ClientCounters {

    private static final int HITS = 0;
    private static final int DIRTY_LINES = 1;
    private static final int DIRTY_WORDS = 2;

    private final SharedControl control;
    private final long[][] taken; // per lease: hits, dirty lines, dirty words already in the metrics
    private final long[] takenOwner;

    ClientCounters(SharedControl control) {
        this.control = control;
        this.taken = new long[control.maxClients()][3];
        this.takenOwner = new long[control.maxClients()];
        for (int c = 0; c < control.maxClients(); c++) {
            takenOwner[c] = control.owner(c);
            taken[c][HITS] = control.clientHits(c); // counted by the sidecar that ran before
            taken[c][DIRTY_LINES] = control.clientDirtyLines(c);
            taken[c][DIRTY_WORDS] = control.clientDirtyWords(c);
        }
    }

    synchronized void takeInto(ClientMetrics m) {
        for (int c = 0; c < control.maxClients(); c++) {
            long owner = control.owner(c);
            if (owner != takenOwner[c]) { // a new process took the lease: its counters start at zero
                takenOwner[c] = owner;
                Arrays.fill(taken[c], 0);
            }
            if (owner <= 0) continue;
            m.hits.add(delta(c, HITS, control.clientHits(c)));
            m.dirtyLines.add(delta(c, DIRTY_LINES, control.clientDirtyLines(c)));
            m.dirtyWords.add(delta(c, DIRTY_WORDS, control.clientDirtyWords(c)));
        }
    }

    private long delta(int c, int k, long total) {
        long d = Math.max(0, total - taken[c][k]);
        taken[c][k] = Math.max(taken[c][k], total);
        return d;
    }
}
