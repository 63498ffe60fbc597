package dev.farmem.client.cache;

/**
 * CLOCK replacement over the frames of a region: a hand sweeps the frames, clears access bits,
 * and claims the first frame that is unpinned, not written back, clean and not recently used.
 * Dirty frames are skipped (their write-back must be acknowledged before the frame is reused,
 * or a refetch could read stale data) and the first one seen is offered as {@link #dirtyCandidate()}.
 * Not thread-safe: the engine calls it under its lock.
 */
public final class ClockHand {

    private final CacheRegion region;
    private volatile int hand;
    private int dirtyCandidate = -1;
    private int skippedDirty;

    public ClockHand(CacheRegion region) {
        this.region = region;
    }

    /**
     * Claims a victim frame (its state becomes {@link CacheRegion#EXCLUSIVE}) within two sweeps,
     * or returns -1; then {@link #dirtyCandidate()} names a cold dirty frame to write back, if any.
     */
    public int claimVictim() {
        int frames = region.frameCount();
        dirtyCandidate = -1;
        skippedDirty = 0;
        for (int scanned = 0; scanned < 2 * frames; scanned++) {
            int f = hand;
            hand = f + 1 == frames ? 0 : f + 1;
            if (region.state(f) != 0) continue;
            if (region.accessed(f)) {
                region.clearAccess(f);
                continue;
            }
            if (region.isDirty(f)) {
                if (dirtyCandidate < 0) dirtyCandidate = f;
                skippedDirty++;
                continue;
            }
            if (!region.tryExclusive(f)) continue;
            if (region.isDirty(f)) { // a writer dirtied it between the check and the claim
                region.setState(f, 0);
                continue;
            }
            return f;
        }
        return -1;
    }

    /** How many cold dirty frames the last {@link #claimVictim()} had to pass over. */
    public int skippedDirty() {
        return skippedDirty;
    }

    /** Where the hand is: the frames just ahead of it are the next victims (read by the flusher without the lock). */
    public int position() {
        return hand;
    }

    /** A dirty, cold, unpinned frame seen by the last unsuccessful {@link #claimVictim()}, or -1. */
    public int dirtyCandidate() {
        return dirtyCandidate;
    }
}
