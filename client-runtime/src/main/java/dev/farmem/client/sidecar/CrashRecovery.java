package dev.farmem.client.sidecar;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.cache.DirtyLineMask;
import dev.farmem.client.engine.ClientMetrics;

/**
 * Makes a cache region a dead sidecar left fit to serve again, losing no written line: frames it
 * was loading are dropped (their data is incomplete), frames whose write-back was in flight are
 * marked wholly dirty (the dirty mask it had taken is gone and the agents may not have the
 * lines), its pins are released, and the block table is rebuilt from the frames' tags (it may
 * have died inside a table change).
 *
 * <p>Thread: {@link #recover} runs on the thread that starts the sidecar, before any engine or
 * other thread of this sidecar uses the region (no miss is served meanwhile: the control file
 * does not say {@code RUNNING} yet), as does {@link #countDirty}.
 */
final class CrashRecovery {

    /** What recovery did, for the log. */
    record Recovered(int dropped, int redirtied, int unpinned) {
        static final Recovered NOTHING = new Recovered(0, 0, 0);
    }

    private CrashRecovery() {}

    static Recovered recover(CacheRegion region) {
        int dropped = 0;
        int redirtied = 0;
        int unpinned = 0;
        int lines = region.linesPerBlock();
        for (int f = 0; f < region.frameCount(); f++) {
            int s = region.state(f);
            long v = region.versionPlain(f);
            if ((v & 1) != 0) {
                region.setTag(f, 0);
                for (int w = 0; w < region.maskWords(); w++) region.takeMask(f, w);
                region.endChange(f);
                dropped++;
            } else if ((s & CacheRegion.WRITEBACK) != 0 && region.tag(f) != 0) {
                for (int w = 0; w < region.maskWords(); w++) region.orMask(f, w, DirtyLineMask.bitsInWord(w, 0, lines));
                redirtied++;
            }
            if ((s & CacheRegion.PIN_MASK) != 0) unpinned++;
            region.setState(f, 0);
        }
        region.rebuildTable();
        return new Recovered(dropped, redirtied, unpinned);
    }

    /**
     * Sets the metrics' dirty lines and mask words to what the region holds, so that the
     * flusher of a new engine (after a restart) sees the dirty data already there.
     */
    static void countDirty(CacheRegion region, ClientMetrics metrics) {
        long lines = 0;
        long words = 0;
        for (int f = 0; f < region.frameCount(); f++) {
            for (int w = 0; w < region.maskWords(); w++) {
                long m = region.maskWord(f, w);
                if (m != 0) {
                    words++;
                    lines += Long.bitCount(m);
                }
            }
        }
        metrics.dirtyLines.add(lines - metrics.dirtyLines.sum());
        metrics.dirtyWords.add(words - metrics.dirtyWords.sum());
    }
}
