package dev.farmem.bench.jmh;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.common.ByteSize;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The hit path: 8-byte reads and writes of a far memory that is wholly in the cache, against the
 * same accesses of a plain off-heap buffer of the same size (docs/benchmarks.md, "hit-path cost").
 * Writes are measured with the background flusher off, so every write is a hit on a pinned
 * frame and nothing is written back during the run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
public class HitPathBenchmark {

    private static final int OFFSETS = 1 << 20;

    @Param("1GiB")
    public String size;

    private EmbeddedPool pool;
    private FarMemory memory;
    private FarBuffer far;
    private ByteBuffer plain;
    private long bytes;
    private final long[] offsets = new long[OFFSETS];

    /** Per-thread position in the random offsets and in the sequential walk. */
    @State(Scope.Thread)
    public static class Cursor {
        int next;
        long sequential;
    }

    @Setup(Level.Trial)
    public void setUp() {
        bytes = ByteSize.parse(size, "size");
        long slab = Math.min(64L << 20, bytes);
        pool = EmbeddedPool.start(1, bytes, slab);
        memory = FarMemory.open(pool.bind("jmh", bytes, 1, 4096),
                FarMemoryOptions.defaults().cacheBytes(bytes).backgroundFlusher(false));
        far = memory.buffer();
        plain = ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] chunk = new byte[1 << 16];
        for (long at = 0; at < bytes; at += chunk.length) far.get(at, chunk); // every block in the cache
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < OFFSETS; i++) offsets[i] = rnd.nextLong(bytes >>> 3) << 3;
        if (memory.stats().evictions() != 0) throw new IllegalStateException("the far memory does not fit the cache: the hit path would not be measured");
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        memory.close();
        pool.close();
    }

    @Benchmark
    public long farRandomRead(Cursor c) {
        return far.getLong(offsets[c.next++ & (OFFSETS - 1)]);
    }

    @Benchmark
    public long plainRandomRead(Cursor c) {
        return plain.getLong((int) offsets[c.next++ & (OFFSETS - 1)]);
    }

    @Benchmark
    public long farSequentialRead(Cursor c) {
        long at = c.sequential;
        c.sequential = at + 8 == bytes ? 0 : at + 8;
        return far.getLong(at);
    }

    @Benchmark
    public long plainSequentialRead(Cursor c) {
        long at = c.sequential;
        c.sequential = at + 8 == bytes ? 0 : at + 8;
        return plain.getLong((int) at);
    }

    @Benchmark
    public void farRandomWrite(Cursor c) {
        far.putLong(offsets[c.next++ & (OFFSETS - 1)], c.next);
    }

    @Benchmark
    public void plainRandomWrite(Cursor c) {
        plain.putLong((int) offsets[c.next++ & (OFFSETS - 1)], c.next);
    }

    @Benchmark
    public void farSequentialWrite(Cursor c) {
        long at = c.sequential;
        c.sequential = at + 8 == bytes ? 0 : at + 8;
        far.putLong(at, at);
    }

    @Benchmark
    public void plainSequentialWrite(Cursor c) {
        long at = c.sequential;
        c.sequential = at + 8 == bytes ? 0 : at + 8;
        plain.putLong((int) at, at);
    }
}
