package dev.farmem.client.engine;

import dev.farmem.client.cache.Translation;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The hit counter, in-process and in sidecar mode alike: each thread adds to a cell of its own
 * with a plain store, no atomic instruction. A lock-prefixed increment (LongAdder, AtomicLong)
 * is a full fence on x86: in a loop of random reads it stops the CPU from overlapping one
 * access's cache misses with the next one's, which made a hit several times slower. Readers
 * sum the cells. A thread's cell stays after the thread ends, so that its counts do too. A
 * sidecar adds its applications' hits in bulk ({@link #add}) to a cell of the thread that takes
 * them: the same mechanism, so the one figure is summed one way.
 *
 * <p>A thread's cell is its {@link Translation} entry of the region this counter serves (one
 * region per counter): the hit path looks the entry up once per access to translate the block,
 * and counts the hit in it without a second thread-local lookup (about 3 ns of a sequential hit).
 */
public final class ThreadLocalCounter {

    private final CopyOnWriteArrayList<Translation> cells = new CopyOnWriteArrayList<>();
    private final ThreadLocal<Translation> mine = ThreadLocal.withInitial(() -> {
        Translation cell = new Translation();
        cells.add(cell);
        return cell;
    });

    /** This thread's cell: its translation entry of the counter's region, which counts its hits ({@link Translation#countHit}). */
    public Translation mine() {
        return mine.get();
    }

    public void increment() {
        mine.get().countHit();
    }

    /** Adds {@code n} at once (counts taken from elsewhere, such as an application's published total). */
    public void add(long n) {
        mine.get().countHits(n);
    }

    public long sum() {
        long sum = 0;
        for (Translation cell : cells) sum += cell.hits();
        return sum;
    }
}
