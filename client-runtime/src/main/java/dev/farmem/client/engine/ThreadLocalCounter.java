package dev.farmem.client.engine;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The hit counter, in-process and in sidecar mode alike: each thread adds to a cell of its own
 * with a plain store, no atomic instruction. A lock-prefixed increment (LongAdder, AtomicLong)
 * is a full fence on x86: in a loop of random reads it stops the CPU from overlapping one
 * access's cache misses with the next one's, which made a hit several times slower. Readers
 * sum the cells. A thread's cell (one padded array) stays after the thread ends, so that its
 * counts do too. A sidecar adds its applications' hits in bulk ({@link #add}) to a cell of the
 * thread that takes them: the same mechanism, so the one figure is summed one way.
 */
public final class ThreadLocalCounter {

    private static final VarHandle CELL = MethodHandles.arrayElementVarHandle(long[].class);
    /** The count sits in the middle of 16 longs so no two threads' counts share a cache line. */
    private static final int SLOT = 8;

    private final CopyOnWriteArrayList<long[]> cells = new CopyOnWriteArrayList<>();
    private final ThreadLocal<long[]> mine = ThreadLocal.withInitial(() -> {
        long[] cell = new long[16];
        cells.add(cell);
        return cell;
    });

    public void increment() {
        long[] cell = mine.get();
        CELL.setOpaque(cell, SLOT, cell[SLOT] + 1);
    }

    /** Adds {@code n} at once (counts taken from elsewhere, such as an application's published total). */
    public void add(long n) {
        long[] cell = mine.get();
        CELL.setOpaque(cell, SLOT, cell[SLOT] + n);
    }

    public long sum() {
        long sum = 0;
        for (long[] cell : cells) sum += (long) CELL.getOpaque(cell, SLOT);
        return sum;
    }
}
