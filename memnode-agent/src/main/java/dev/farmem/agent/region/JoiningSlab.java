package dev.farmem.agent.region;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * A slab that joins a claim as a new replica, while a copy fills it from a surviving one: which of its 64-byte lines
 * are present (written by a client since the join, or filled by the copy). Clients write to a joining slab as to any
 * other; the copy fills only the lines no client wrote, so an acknowledged write is never overwritten by older bytes.
 *
 * <p>A write that covers part of a line only (clients write whole lines, but the protocol allows any bytes) is kept
 * as a byte mask for that line until the line is whole, and the copy fills the other bytes.
 *
 * <p>Thread-safety: {@link #written} runs under the slab's shared lock, concurrently with other writes, so it only
 * sets bits atomically; {@link #fill} runs under the slab's exclusive lock, so no write interleaves with it.
 */
final class JoiningSlab {

    static final int LINE = 64;
    private static final long FULL = -1L;

    private final AtomicLongArray present;
    /** Per line written in part: which of its 64 bytes were written. */
    private final ConcurrentHashMap<Long, Long> partial = new ConcurrentHashMap<>();
    private final AtomicLong missing;

    JoiningSlab(long slabSize) {
        long lines = slabSize / LINE;
        this.present = new AtomicLongArray(Math.toIntExact((lines + 63) / 64));
        this.missing = new AtomicLong(lines);
    }

    long missingLines() {
        return missing.get();
    }

    void written(long offset, int length) {
        long end = offset + length;
        for (long line = offset / LINE; line * LINE < end; line++) {
            long from = Math.max(offset, line * LINE) - line * LINE;
            long to = Math.min(end, (line + 1) * LINE) - line * LINE;
            if (from == 0 && to == LINE) {
                markPresent(line);
            } else if (!isPresent(line)) {
                long bytes = to == LINE ? FULL << from : ((1L << to) - 1) & (FULL << from);
                long now = partial.merge(line, bytes, (a, b) -> a | b);
                if (now == FULL) {
                    markPresent(line);
                    partial.remove(line);
                }
            }
        }
    }

    /** Copies into {@code slab} the bytes of {@code src} (at {@code offset}, line-aligned) that no client wrote; returns how many lines' bytes were filled. */
    long fill(ByteBuffer slab, long offset, ByteBuffer src) {
        int length = src.remaining();
        if (offset % LINE != 0 || length % LINE != 0) {
            throw new IllegalArgumentException("a copy fills whole lines: offset " + offset + " and length " + length + " must be multiples of " + LINE);
        }
        long filled = 0;
        for (int i = 0; i < length; i += LINE) {
            long line = (offset + i) / LINE;
            if (isPresent(line)) continue;
            Long mask = partial.remove(line);
            int at = (int) (offset + i);
            if (mask == null) {
                slab.put(at, src, src.position() + i, LINE);
            } else {
                for (int b = 0; b < LINE; b++) {
                    if ((mask & (1L << b)) == 0) slab.put(at + b, src.get(src.position() + i + b));
                }
            }
            markPresent(line);
            filled += LINE;
        }
        return filled;
    }

    boolean present(long offset, int length) {
        long end = offset + length;
        for (long line = offset / LINE; line * LINE < end; line++) if (!isPresent(line)) return false;
        return true;
    }

    private boolean isPresent(long line) {
        return (present.get((int) (line >>> 6)) & (1L << line)) != 0;
    }

    private void markPresent(long line) {
        int word = (int) (line >>> 6);
        long bit = 1L << line;
        for (;;) {
            long w = present.get(word);
            if ((w & bit) != 0) return;
            if (present.compareAndSet(word, w, w | bit)) {
                missing.decrementAndGet();
                return;
            }
        }
    }
}
