package dev.farmem.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.ForwardingConnection;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.tcp.NettyTransport;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Batched reads ({@code FarLongArray.get(long[], long[])}) and {@code prefetch} against real agents on loopback, as FarMemoryTest. */
class BatchReadTest {

    private static final long MIB = 1 << 20;
    private static final int BLOCK = 4096;
    private static EmbeddedPool pool;

    @BeforeAll
    static void startPool() {
        pool = EmbeddedPool.start(3, 64 * MIB, MIB);
    }

    @AfterAll
    static void stopPool() {
        pool.close();
    }

    private static FarMemoryOptions cache(long bytes) {
        return FarMemoryOptions.defaults().cacheBytes(bytes).prefetchDepth(0);
    }

    /** Writes value(i) at every index of a fresh claim and flushes; returns the binding. */
    private static Binding filled(String name, long bytes) {
        Binding b = pool.bind(name, bytes, 2, BLOCK);
        try (FarMemory mem = FarMemory.open(b, cache(MIB))) {
            FarLongArray arr = mem.longArray(0, bytes / 8);
            for (long i = 0; i < arr.length(); i++) arr.set(i, value(i));
        }
        return b;
    }

    private static long value(long i) {
        return i * 0x9E3779B97F4A7C15L + 7;
    }

    @Test
    void aBatchReadsWhatSingleGetsReadForHitsMissesDuplicatesAndManyBlocks() {
        Binding b = filled("batch-equal", 2 * MIB); // 512 blocks
        try (FarMemory mem = FarMemory.open(b, cache(64 * BLOCK))) {
            FarLongArray arr = mem.longArray(0, 2 * MIB / 8);
            for (long i = 0; i < 16 * 512; i += 512) arr.get(i); // blocks 0..15 cached: hits
            Random rnd = new Random(3);
            long[] indices = new long[1000]; // up to ~430 distinct blocks: several waves of 64, more than the 64 frames
            for (int i = 0; i < indices.length; i++) {
                indices[i] = switch (i % 4) {
                    case 0 -> rnd.nextInt(16 * 512);                    // a hit
                    case 1 -> indices[rnd.nextInt(Math.max(1, i))];     // a duplicate of an earlier entry
                    default -> rnd.nextInt((int) arr.length());         // mostly misses
                };
            }
            long[] out = new long[indices.length];
            arr.get(indices, out);
            for (int i = 0; i < indices.length; i++) {
                assertThat(out[i]).as("entry %d, index %d", i, indices[i]).isEqualTo(value(indices[i])).isEqualTo(arr.get(indices[i]));
            }
            // again, now that part of it is cached, and through the buffer's form with byte indices
            long[] bytes = Arrays.stream(indices).map(x -> x << 3).toArray();
            long[] again = new long[indices.length];
            mem.buffer().getLongs(bytes, again);
            assertThat(again).isEqualTo(out);
        }
    }

    @Test
    void aBatchFetchesEachMissingBlockOnceAndCountsAsSingleGetsWould() {
        Binding b = filled("batch-count", MIB);
        try (FarMemory mem = FarMemory.open(b, cache(128 * BLOCK))) {
            FarLongArray arr = mem.longArray(0, MIB / 8);
            arr.get(0); // block 0 cached
            long before = mem.stats().misses();
            long fetched = mem.stats().fetchedBytes();
            long[] indices = new long[48]; // blocks 1..16, three indices each, plus block 0 (a hit)
            for (int i = 0; i < 48; i++) indices[i] = (1 + i % 16) * 512L + i;
            indices[47] = 5;
            long[] out = new long[48];
            arr.get(indices, out);
            for (int i = 0; i < 48; i++) assertThat(out[i]).isEqualTo(value(indices[i]));
            assertThat(mem.stats().misses() - before).isEqualTo(16);
            assertThat(mem.stats().fetchedBytes() - fetched).isEqualTo(16L * BLOCK);
        }
    }

    @Test
    void aBatchPutsAllItsMissesOnTheWireBeforeWaitingForAny() throws Exception {
        Binding b = filled("batch-inflight", MIB);
        GatedTransport gated = new GatedTransport();
        try (gated; FarMemory mem = FarMemory.open(b, cache(64 * BLOCK).transport(() -> gated))) {
            FarLongArray arr = mem.longArray(0, MIB / 8);
            long[] indices = new long[16];
            for (int i = 0; i < 16; i++) indices[i] = 512L * (7 * i + 3) + i; // 16 distinct uncached blocks
            long[] out = new long[16];
            CompletableFuture<Void> open = gated.holdReadsUntil(16); // no read completes before 16 are out
            CompletableFuture<Void> batch = CompletableFuture.runAsync(() -> arr.get(indices, out));
            try {
                open.get(60, TimeUnit.SECONDS); // a batch that waited for its first miss would never get here
            } finally {
                gated.release();
            }
            batch.get(60, TimeUnit.SECONDS);
            for (int i = 0; i < 16; i++) assertThat(out[i]).isEqualTo(value(indices[i]));
        }
    }

    @Test
    void anIndexOutsideTheArrayIsRefusedBeforeAnythingIsReadOrChanged() {
        Binding b = filled("batch-range", MIB);
        try (FarMemory mem = FarMemory.open(b, cache(64 * BLOCK))) {
            FarLongArray arr = mem.longArray(0, 1000);
            long[] out = {1, 2, 3, 4};
            assertThatThrownBy(() -> arr.get(new long[] {5, 600, 1000, 7}, out))
                    .isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("index 1000").hasMessageContaining("entry 2").hasMessageContaining("1000 longs");
            assertThatThrownBy(() -> arr.get(new long[] {-1}, out)).isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("index -1");
            assertThatThrownBy(() -> mem.buffer().getLongs(new long[] {0, MIB - 4}, out)).isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("index " + (MIB - 4));
            assertThatThrownBy(() -> arr.get(new long[] {1, 2, 3}, new long[2])).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("fewer than the 3 indices");
            assertThat(out).containsExactly(1, 2, 3, 4);
            assertThat(mem.stats().misses()).isZero();
            assertThat(mem.stats().fetchedBytes()).isZero();
        }
    }

    @Test
    void longsThatStraddleBlocksInAnUnalignedArrayAreReadWhole() {
        Binding b = pool.bind("batch-unaligned", MIB, 1, BLOCK);
        try (FarMemory mem = FarMemory.open(b, cache(16 * BLOCK))) {
            FarLongArray arr = mem.longArray(4, MIB / 8 - 1); // every 512th long spans two blocks
            for (long i = 0; i < arr.length(); i += 97) arr.set(i, value(i));
            arr.set(511, value(511));
            mem.flush();
            long[] indices = new long[300];
            for (int i = 0; i < indices.length; i++) indices[i] = i == 0 ? 511 : (long) i * 97 % arr.length() / 97 * 97;
            long[] out = new long[indices.length];
            arr.get(indices, out);
            for (int i = 0; i < indices.length; i++) assertThat(out[i]).as("index %d", indices[i]).isEqualTo(value(indices[i]));
        }
    }

    @Test
    void batchReadersSeeEveryAcknowledgedWriteOfConcurrentWritersOnAnEvictionHeavyCache() throws Exception {
        Binding b = pool.bind("batch-stress", 2 * MIB, 2, BLOCK);
        int threads = 4;
        long longs = 2 * MIB / 8;
        long[] shadow = new long[(int) longs];
        try (FarMemory mem = FarMemory.open(b, FarMemoryOptions.defaults().cacheBytes(16 * BLOCK).flusherLowWatermark(0.05))) {
            FarLongArray arr = mem.longArray(0, longs);
            // each thread owns the indexes i % threads == me, so every block is shared by all threads
            StressThreads.run(threads, 100_000, 2_000_000_000L, me -> {
                long[] indices = new long[16];
                long[] out = new long[16];
                return rnd -> {
                    if (rnd.nextInt(4) == 0) {
                        for (int k = 0; k < 16; k++) indices[k] = (long) rnd.nextInt((int) (longs / threads)) * threads + me;
                        arr.get(indices, out);
                        for (int k = 0; k < 16; k++) assertThat(out[k]).as("index %d", indices[k]).isEqualTo(shadow[(int) indices[k]]);
                    } else {
                        long i = (long) rnd.nextInt((int) (longs / threads)) * threads + me;
                        long v = rnd.nextLong();
                        arr.set(i, v);
                        shadow[(int) i] = v;
                    }
                };
            });
            assertThat(mem.stats().evictions()).isGreaterThan(1000);
        }
        try (FarMemory fresh = FarMemory.open(b, cache(MIB))) {
            FarLongArray arr = fresh.longArray(0, longs);
            long[] all = new long[(int) longs];
            long[] indices = new long[(int) longs];
            for (int i = 0; i < longs; i++) indices[i] = i;
            arr.get(indices, all);
            assertThat(all).isEqualTo(shadow);
        }
    }

    @Test
    void prefetchFetchesEachUncachedBlockOnceAndLaterReadsFindThem() {
        Binding b = filled("batch-prefetch", MIB);
        try (FarMemory mem = FarMemory.open(b, cache(128 * BLOCK))) {
            FarLongArray arr = mem.longArray(0, MIB / 8);
            arr.get(512 * 3); // block 3 already cached
            long fetched = mem.stats().fetchedBytes();
            mem.prefetch(2 * BLOCK, 30 * BLOCK); // blocks 2..31
            arr.prefetch(512 * 20, 512 * 12);    // blocks 20..31 again: already there or on the way
            for (long i = 2 * 512; i < 32 * 512; i += 64) assertThat(arr.get(i)).isEqualTo(value(i));
            assertThat(mem.stats().fetchedBytes() - fetched).isEqualTo(29L * BLOCK);
            assertThatThrownBy(() -> mem.prefetch(MIB - BLOCK, 2 * BLOCK)).isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining(String.valueOf(MIB));
            assertThatThrownBy(() -> arr.prefetch(-1, 2)).isInstanceOf(IndexOutOfBoundsException.class);
        }
    }

    /** TCP to the agents, with a gate that can hold every read's completion until a number of reads are out. */
    private static final class GatedTransport implements Transport {
        private final NettyTransport inner = new NettyTransport();
        private final AtomicInteger reads = new AtomicInteger();
        private volatile int holdUntil = -1;
        private volatile CompletableFuture<Void> gate = CompletableFuture.completedFuture(null);

        /** From now on reads complete only once {@code n} of them were issued (or {@link #release}); the future says when. */
        CompletableFuture<Void> holdReadsUntil(int n) {
            reads.set(0);
            gate = new CompletableFuture<>();
            holdUntil = n;
            return gate;
        }

        void release() {
            gate.complete(null);
        }

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token) {
            return inner.connect(endpoint, token).thenApply(c -> new ForwardingConnection(c) {
                @Override
                public CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst) {
                    CompletableFuture<Void> g = gate;
                    CompletableFuture<Void> r = delegate.read(slab, offset, dst);
                    if (reads.incrementAndGet() == holdUntil) g.complete(null);
                    return r.thenCombine(g, (x, y) -> null);
                }
            });
        }

        @Override
        public void close() {
            inner.close();
        }
    }
}
