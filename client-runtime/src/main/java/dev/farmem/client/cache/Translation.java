package dev.farmem.client.cache;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One thread's translation entry for one region, and that thread's hit count.
 *
 * <p>The entry is the block the thread last translated and the optimistic-read stamp
 * ({@link CacheRegion#tryOptimisticRead(long, Translation)}) the region gave for it. The region
 * checks it before its tables, so a sequential or repeated access skips the translation and
 * costs a compare; the stamp is validated after the read as any stamp is, so an entry left over
 * from before an eviction fails, is forgotten, and the block is translated again. A stamp's
 * version never repeats, which makes an old stamp as safe to validate as a fresh one (as with
 * {@code StampedLock}).
 *
 * <p>The hit count lives here because the hit path has the entry in hand: counting is a plain
 * store to a line only this thread writes, no atomic instruction and no second thread-local
 * lookup. {@code ThreadLocalCounter} hands out the entries and sums the counts; a counter, and so
 * an entry, serves one region only (the stamps name that region's frames).
 *
 * <p>Only the owning thread touches {@code block} and {@code stamp}; other threads only read the
 * count. Padding on both sides keeps another object's writes off this entry's cache line.
 */
public final class Translation extends TranslationFields {

    private static final VarHandle HITS;

    static {
        try {
            HITS = MethodHandles.lookup().findVarHandle(TranslationFields.class, "hits", long.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    @SuppressWarnings("unused")
    private long p10, p11, p12, p13, p14, p15, p16, p17;

    /** Counts one hit of this thread. */
    public void countHit() {
        HITS.setOpaque(this, hits + 1);
    }

    /** Counts {@code n} hits at once (counts taken from elsewhere, such as an application's published total). */
    public void countHits(long n) {
        HITS.setOpaque(this, hits + n);
    }

    /** This thread's hits so far; any thread may read it. */
    public long hits() {
        return (long) HITS.getOpaque(this);
    }

    /** The block this entry translates, or -1 (for tests and diagnostics). */
    public long block() {
        return block;
    }

    /** Drops the translation: the next access translates its block through the region's tables. */
    public void forget() {
        block = -1;
    }
}

/** Padding before the fields, so that no other object's fields share their cache line. */
abstract class TranslationPadding {
    @SuppressWarnings("unused")
    private long p00, p01, p02, p03, p04, p05, p06, p07;
}

/** The fields of {@link Translation}, between its padding. */
abstract class TranslationFields extends TranslationPadding {
    /** The block translated, or -1. */
    long block = -1;
    /** The stamp of {@link #block}, as {@link CacheRegion#tryOptimisticRead(long)} gave it. */
    long stamp;
    long hits;
}
