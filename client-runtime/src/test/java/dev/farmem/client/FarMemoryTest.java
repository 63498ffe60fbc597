package dev.farmem.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.client.engine.ClientMetrics;
import dev.farmem.common.Endpoint;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.ForwardingConnection;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.transport.tcp.NettyTransport;
import io.prometheus.client.Collector;
import io.prometheus.client.CollectorRegistry;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The client runtime against real agents on loopback. */
class FarMemoryTest {

    private static final long MIB = 1 << 20;
    private static EmbeddedPool pool;

    @BeforeAll
    static void startPool() {
        pool = EmbeddedPool.start(3, 64 * MIB, MIB);
    }

    @AfterAll
    static void stopPool() {
        pool.close();
    }

    private static FarMemoryOptions smallCache(long bytes) {
        return FarMemoryOptions.defaults().cacheBytes(bytes);
    }

    @Test
    void everyByteWrittenIsReadBackAfterEvictionAndFromAFreshCacheAfterFlush() {
        Binding b = pool.bind("bytes", 4 * MIB, 2, 4096);
        byte[] pattern = new byte[(int) (4 * MIB)];
        new Random(1).nextBytes(pattern);
        try (FarMemory mem = FarMemory.open(b, smallCache(256 * 1024))) { // cache = 1/16 of the claim
            FarBuffer buf = mem.buffer();
            for (int at = 0; at < pattern.length; at += 5000) buf.put(at, pattern, at, Math.min(5000, pattern.length - at));
            byte[] back = new byte[pattern.length];
            buf.get(0, back);
            assertThat(back).isEqualTo(pattern);
            assertThat(mem.stats().evictions()).isGreaterThan(0);
            mem.flush();
            assertThat(mem.stats().dirtyBytes()).isZero();
        }
        try (FarMemory fresh = FarMemory.open(b, smallCache(256 * 1024))) {
            byte[] back = new byte[pattern.length];
            fresh.buffer().get(0, back);
            assertThat(back).isEqualTo(pattern);
        }
    }

    @Test
    void aBindingThatSaysRdmaOnAHostWithoutRdmaFailsWithTheProbesReason() {
        Binding tcp = pool.bind("rdma-here", MIB, 1, 4096);
        Binding rdma = new Binding(tcp.version(), tcp.pool(), tcp.claim(), tcp.claimUid(), tcp.epoch(), "rdma", tcp.sizeBytes(), tcp.slabSize(),
                tcp.blockSize(), tcp.nodes(), tcp.extents());
        String reason = RdmaSupport.probe().reason();
        assertThatThrownBy(() -> FarMemory.open(rdma, smallCache(64 * 1024)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("claim rdma-here is bound with transport rdma")
                .hasMessageContaining(reason);
        // The option still overrides what the binding says: the agents serve TCP too.
        try (NettyTransport t = new NettyTransport();
             FarMemory mem = FarMemory.open(rdma, smallCache(64 * 1024).transport(() -> t))) {
            mem.buffer().putLong(0, 42);
            mem.flush();
            assertThat(mem.buffer().getLong(0)).isEqualTo(42);
        }
    }

    @Test
    void typedAccessorsAreLittleEndianAndWorkAcrossBlockBoundaries() {
        try (FarMemory mem = FarMemory.open(pool.bind("typed", MIB, 1, 4096), smallCache(64 * 1024))) {
            FarBuffer buf = mem.buffer();
            buf.putLong(4092, 0x0102030405060708L); // spans blocks 0 and 1
            buf.putInt(8190, 0xCAFEBABE);
            buf.putByte(100, (byte) 7);
            assertThat(buf.getLong(4092)).isEqualTo(0x0102030405060708L);
            assertThat(buf.getInt(8190)).isEqualTo(0xCAFEBABE);
            assertThat(buf.getByte(4092)).isEqualTo((byte) 0x08);
            assertThat(buf.getByte(100)).isEqualTo((byte) 7);
            ByteBuffer src = ByteBuffer.allocateDirect(10_000);
            for (int i = 0; i < 10_000; i++) src.put(i, (byte) i);
            buf.put(20_000, src);
            assertThat(src.hasRemaining()).isFalse();
            ByteBuffer dst = ByteBuffer.allocate(10_000);
            buf.get(20_000, dst);
            assertThat(dst.flip()).isEqualTo(src.flip());
            buf.copyTo(20_000, buf, 20_100, 10_000); // overlapping, forward
            assertThat(buf.getByte(20_100 + 9_999)).isEqualTo((byte) 9_999);
            assertThat(buf.getByte(20_100)).isEqualTo((byte) 0);
            FarLongArray longs = mem.longArray(512 * 1024, 1000);
            longs.set(999, 42);
            assertThat(longs.get(999)).isEqualTo(42);
            assertThat(buf.getLong(512 * 1024 + 999 * 8)).isEqualTo(42);
        }
    }

    @Test
    void byteAndCrossBlockAccessesAllocateNothing() {
        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        try (FarMemory mem = FarMemory.open(pool.bind("no-garbage", MIB, 1, 4096), smallCache(64 * 1024))) {
            FarBuffer buf = mem.buffer();
            Runnable accesses = () -> {
                for (int i = 0; i < 10_000; i++) {
                    long at = 4096L * (1 + i % 8) - 1 - i % 7; // 1 to 7 bytes before a block boundary
                    buf.putLong(at, i);
                    buf.putInt(at, i);
                    buf.putByte(at, (byte) i);
                    if (buf.getByte(at) != (byte) i || buf.getInt(at) != i || buf.getLong(at) != i) {
                        throw new AssertionError("access " + i + " at " + at + " read back wrong");
                    }
                }
            };
            accesses.run(); // the blocks are cached and the code is loaded
            long before = threads.getCurrentThreadAllocatedBytes();
            accesses.run();
            long allocated = threads.getCurrentThreadAllocatedBytes() - before;
            assertThat(allocated).as("bytes allocated by 60,000 byte and cross-block accesses").isLessThan(10_000);
        }
    }

    @Test
    void onlyTheDirtyLinesTravelBackAndPageTrackingSendsWholeBlocks() {
        Binding b = pool.bind("lines", MIB, 1, 4096);
        long lineBytes;
        try (FarMemory mem = FarMemory.open(b, smallCache(MIB).backgroundFlusher(false))) {
            for (int block = 0; block < 100; block++) mem.buffer().putLong(block * 4096L + 64 * 3, block); // one line per block
            mem.buffer().putLong(200 * 4096L + 64 * 5 + 60, 1); // one write across two lines
            mem.flush();
            ClientMetrics.Snapshot s = mem.stats();
            assertThat(s.lineIdealBytes()).isEqualTo(102 * 64);
            assertThat(s.writtenBackBytes()).isEqualTo(102 * 64);
            assertThat(s.writebackVsLineIdeal()).isEqualTo(1.0);
            assertThat(s.pageEquivalentBytes()).isEqualTo(101 * 4096);
            lineBytes = s.writtenBackBytes();
        }
        try (FarMemory mem = FarMemory.open(b, smallCache(MIB).backgroundFlusher(false).trackingGranularity(4096))) {
            for (int block = 0; block < 100; block++) mem.buffer().putLong(block * 4096L + 64 * 3, block);
            mem.buffer().putLong(200 * 4096L + 64 * 5 + 60, 1);
            mem.flush();
            ClientMetrics.Snapshot s = mem.stats();
            assertThat(s.writtenBackBytes()).isEqualTo(101 * 4096);
            assertThat(s.lineIdealBytes()).isEqualTo(102 * 64);
            assertThat(s.writtenBackBytes() / lineBytes).isGreaterThanOrEqualTo(60);
            assertThat(mem.buffer().getLong(99 * 4096L + 64 * 3)).isEqualTo(99);
        }
    }

    @Test
    void concurrentWritersOnAnEvictionHeavyCacheLoseNoAcknowledgedWrite() throws Exception {
        Binding b = pool.bind("stress", 2 * MIB, 2, 4096);
        int threads = 4;
        long longs = 2 * MIB / 8;
        long[] shadow = new long[(int) longs];
        try (FarMemory mem = FarMemory.open(b, smallCache(16 * 4096).flusherLowWatermark(0.05))) { // 16 frames for 512 blocks
            FarLongArray arr = mem.longArray(0, longs);
            // each thread owns the indexes i % threads == me, so every block is shared by all threads
            StressThreads.run(threads, 400_000, 2_000_000_000L, me -> rnd -> {
                long i = (long) rnd.nextInt((int) (longs / threads)) * threads + me;
                if (rnd.nextInt(4) == 0) {
                    assertThat(arr.get(i)).as("index %d", i).isEqualTo(shadow[(int) i]);
                } else {
                    long v = rnd.nextLong();
                    arr.set(i, v);
                    shadow[(int) i] = v;
                }
            });
            mem.flush();
            assertThat(mem.stats().evictions()).isGreaterThan(1000);
            assertThat(mem.stats().writtenBackBytes()).isPositive();
        }
        try (FarMemory fresh = FarMemory.open(b, smallCache(MIB))) {
            FarLongArray arr = fresh.longArray(0, longs);
            for (int i = 0; i < longs; i++) {
                if (arr.get(i) != shadow[i]) throw new AssertionError("index " + i + ": far " + arr.get(i) + ", shadow " + shadow[i]);
            }
        }
    }

    @Test
    void aFlushSendsTheDirtyLinesOfAllTheBlocksOfOneSlabInOneRequest() {
        Binding b = pool.bind("coalesced", 4 * MIB, 1, 4096); // slabs of 1 MiB: 256 blocks each
        AtomicInteger writes = new AtomicInteger();
        Transport counting = new Transport() {
            private final NettyTransport inner = new NettyTransport();

            @Override
            public String name() {
                return inner.name();
            }

            @Override
            public CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token) {
                return inner.connect(endpoint, token).thenApply(c -> new ForwardingConnection(c) {
                    @Override
                    public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
                        writes.incrementAndGet();
                        return delegate.writev(slab, batch);
                    }
                });
            }

            @Override
            public void close() {
                inner.close();
            }
        };
        try (counting; FarMemory mem = FarMemory.open(b, smallCache(MIB).backgroundFlusher(false).transport(() -> counting))) {
            for (int i = 0; i < 200; i++) mem.buffer().putLong(spread(i), i); // one line in each of 100 blocks of slab 0 and 100 of slab 1
            mem.flush();
            assertThat(writes.get()).as("WRITEVs for 200 blocks in two slabs").isEqualTo(2);
            assertThat(mem.stats().writtenBackBytes()).isEqualTo(200 * 64);
            assertThat(mem.stats().lineIdealBytes()).isEqualTo(200 * 64);
            assertThat(mem.stats().pageEquivalentBytes()).isEqualTo(200 * 4096);
        }
        try (FarMemory fresh = FarMemory.open(b, smallCache(MIB))) {
            for (int i = 0; i < 200; i++) assertThat(fresh.buffer().getLong(spread(i))).isEqualTo(i);
        }
    }

    /** A long in line i % 64 of block i (i < 100, slab 0) or of block 156 + i (slab 1). */
    private static long spread(int i) {
        long block = i < 100 ? i : 156 + i;
        return block * 4096 + 64 * (i % 64);
    }

    /**
     * The translation of the hit path (the direct table's entry for a block: frame and version)
     * under eviction. The threads work on a hot set of 24 blocks with 16 frames, so most reads
     * are optimistic hits on frames that other threads' misses are evicting and refilling at the
     * same moment; a read that used a stale translation would return another block's long (or
     * the long of an earlier tenancy of the same block), and the shadow copy would catch it.
     */
    @Test
    void optimisticHitsOnFramesBeingEvictedNeverReturnAnotherBlocksBytes() throws Exception {
        Binding b = pool.bind("translation", 2 * MIB, 2, 4096);
        int threads = 4;
        int hotBlocks = 24;
        long longsPerBlock = 4096 / 8;
        long[] shadow = new long[(int) (2 * MIB / 8)];
        try (FarMemory mem = FarMemory.open(b, smallCache(16 * 4096).flusherLowWatermark(0.05))) {
            FarLongArray arr = mem.longArray(0, shadow.length);
            for (int i = 0; i < shadow.length; i++) {
                shadow[i] = ~(long) i; // every long names its own index until its owner writes it
                arr.set(i, shadow[i]);
            }
            long missesBefore = mem.stats().misses();
            long hitsBefore = mem.stats().hits();
            StressThreads.run(threads, 400_000, 2_000_000_000L, me -> rnd -> {
                long block = 1 + rnd.nextInt(hotBlocks) * 21L; // spread over the claim
                for (int k = 0; k < 4; k++) {
                    long i = block * longsPerBlock + (long) rnd.nextInt((int) (longsPerBlock / threads)) * threads + me;
                    if (rnd.nextInt(8) == 0) {
                        long v = rnd.nextLong();
                        arr.set(i, v);
                        shadow[(int) i] = v;
                    } else {
                        long x = arr.get(i);
                        if (x != shadow[(int) i]) throw new AssertionError("index " + i + ": read " + x + ", shadow " + shadow[(int) i]);
                    }
                }
            });
            assertThat(mem.stats().misses() - missesBefore).as("misses, each one an eviction").isGreaterThan(1000);
            assertThat(mem.stats().hits() - hitsBefore).as("hits").isGreaterThan(mem.stats().misses() - missesBefore);
            mem.flush();
        }
        try (FarMemory fresh = FarMemory.open(b, smallCache(MIB))) {
            FarLongArray arr = fresh.longArray(0, shadow.length);
            for (int i = 0; i < shadow.length; i++) {
                if (arr.get(i) != shadow[i]) throw new AssertionError("index " + i + ": far " + arr.get(i) + ", shadow " + shadow[i]);
            }
        }
    }

    /**
     * The threads' translation entries under eviction: each step reads a run of consecutive longs
     * of one block (after the first, every read is served by the thread's entry without the block
     * table) while the other threads' misses evict that block's frame and re-use it for other
     * blocks, or bring the block back into another frame. Every long names its own index or
     * holds its owner's last write, so a read through a stale entry (another block's bytes, or an
     * earlier tenancy's) fails against the shadow copy.
     */
    @Test
    void runsOfReadsThroughTheThreadsTranslationEntryNeverSeeAnotherBlockOrAnEarlierTenancy() throws Exception {
        Binding b = pool.bind("entries", 2 * MIB, 2, 4096);
        int threads = 4;
        long longsPerBlock = 4096 / 8;
        long[] shadow = new long[(int) (2 * MIB / 8)];
        try (FarMemory mem = FarMemory.open(b, smallCache(16 * 4096).flusherLowWatermark(0.05))) { // 16 frames, 64 hot blocks
            FarLongArray arr = mem.longArray(0, shadow.length);
            for (int i = 0; i < shadow.length; i++) {
                shadow[i] = ~(long) i;
                arr.set(i, shadow[i]);
            }
            long evictionsBefore = mem.stats().evictions();
            long hitsBefore = mem.stats().hits();
            StressThreads.run(threads, 200_000, 2_000_000_000L, me -> rnd -> {
                long block = 1 + rnd.nextInt(64) * 7L;
                int from = rnd.nextInt((int) longsPerBlock - 64);
                for (int k = from; k < from + 64; k++) {
                    long i = block * longsPerBlock + k;
                    if (k % threads == me && rnd.nextInt(16) == 0) {
                        long v = rnd.nextLong();
                        arr.set(i, v);
                        shadow[(int) i] = v;
                    } else if (k % threads == me) { // only the owner's writes are ordered with this thread's reads
                        long x = arr.get(i);
                        if (x != shadow[(int) i]) throw new AssertionError("index " + i + ": read " + x + ", shadow " + shadow[(int) i]);
                    } else { // another owner's long: its first value or a random one that owner wrote, never another index's first value
                        long x = arr.get(i);
                        if (x != ~i && ~x >= 0 && ~x < shadow.length) throw new AssertionError("index " + i + ": read the first value of index " + ~x);
                    }
                }
            });
            assertThat(mem.stats().evictions() - evictionsBefore).as("evictions during the reads").isGreaterThan(1000);
            assertThat(mem.stats().hits() - hitsBefore).as("hits, most of them through an entry").isGreaterThan(10 * (mem.stats().evictions() - evictionsBefore));
            mem.flush();
        }
        try (FarMemory fresh = FarMemory.open(b, smallCache(MIB))) {
            FarLongArray arr = fresh.longArray(0, shadow.length);
            for (int i = 0; i < shadow.length; i++) {
                if (arr.get(i) != shadow[i]) throw new AssertionError("index " + i + ": far " + arr.get(i) + ", shadow " + shadow[i]);
            }
        }
    }

    /**
     * A thread's entry outliving its frame: readers read a long of a block (their entry now names
     * the block's frame), pause while two other threads scan cold blocks (every read a miss, so
     * CLOCK evicts the paused reader's frame and gives it to another block), and read another long
     * of the same block, whose translation the entry still holds. A stamp that validated after its
     * frame changed would return the other block's long.
     */
    @Test
    void aThreadsEntryThatOutlivedItsFrameIsNeverUsed() throws Exception {
        Binding b = pool.bind("stale-entries", 2 * MIB, 2, 4096);
        long longsPerBlock = 4096 / 8;
        int blocks = (int) (2 * MIB / 4096);
        try (FarMemory mem = FarMemory.open(b, smallCache(16 * 4096))) {
            FarLongArray arr = mem.longArray(0, 2 * MIB / 8);
            for (long i = 0; i < arr.length(); i++) arr.set(i, ~i); // every long names its own index
            long evictionsBefore = mem.stats().evictions();
            StressThreads.run(4, 3_000, 2_000_000_000L, me -> rnd -> {
                long block = rnd.nextInt(blocks);
                if (me < 2) { // a cold scan: misses that evict
                    long i = block * longsPerBlock + rnd.nextInt((int) longsPerBlock);
                    if (arr.get(i) != ~i) throw new AssertionError("cold read of index " + i + " read " + arr.get(i));
                    return;
                }
                long first = block * longsPerBlock + rnd.nextInt((int) longsPerBlock);
                for (int k = 0; k < 2; k++) { // a miss, then a hit: only a hit leaves the block in the entry
                    if (arr.get(first) != ~first) throw new AssertionError("index " + first + " read " + arr.get(first));
                }
                LockSupport.parkNanos(300_000); // the scanners evict meanwhile
                long again = block * longsPerBlock + rnd.nextInt((int) longsPerBlock);
                long x = arr.get(again);
                if (x != ~again) throw new AssertionError("index " + again + " read through a stale entry: got the long of index " + ~x);
            });
            assertThat(mem.stats().evictions() - evictionsBefore).as("evictions while the readers paused").isGreaterThan(1000);
        }
    }

    @Test
    void aStoppedReplicaIsCountedAndTheClaimKeepsWorkingOnTheOthers() {
        try (EmbeddedPool own = EmbeddedPool.start(2, 16 * MIB, MIB)) {
            Binding b = own.bind("replicas", 4 * MIB, 2, 4096);
            long longs = 4 * MIB / 8;
            try (FarMemory mem = FarMemory.open(b, smallCache(128 * 1024))) {
                FarLongArray arr = mem.longArray(0, longs);
                for (long i = 0; i < longs; i += 64) arr.set(i, i);
                mem.flush();
                own.stopAgent(0);
                for (long i = 0; i < longs; i += 64) assertThat(arr.get(i)).isEqualTo(i); // reads fail over
                for (long i = 8; i < longs; i += 64) arr.set(i, -i); // writes continue
                mem.flush();
                assertThat(mem.stats().replicaFailures()).isPositive();
                assertThat(mem.failedReplicas()).containsExactly("agent-0");
                assertThat(mem.stats().writebackErrors()).isZero();
            }
            try (FarMemory fresh = FarMemory.open(b, smallCache(128 * 1024))) {
                FarLongArray arr = fresh.longArray(0, longs);
                for (long i = 0; i < longs; i += 64) {
                    assertThat(arr.get(i)).isEqualTo(i);
                    assertThat(arr.get(i + 8)).isEqualTo(-(i + 8));
                }
            }
        }
    }

    @Test
    void anAddressOutsideTheClaimNamesTheAddressAndTheSize() {
        try (FarMemory mem = FarMemory.open(pool.bind("range", MIB, 1, 4096), smallCache(64 * 1024))) {
            assertThatThrownBy(() -> mem.buffer().getLong(MIB - 4))
                    .isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("far address " + (MIB - 4)).hasMessageContaining(MIB + " bytes");
            assertThatThrownBy(() -> mem.buffer().putLong(-1, 0)).isInstanceOf(IndexOutOfBoundsException.class);
            assertThatThrownBy(() -> mem.buffer(MIB - 10, 20)).isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining(String.valueOf(MIB));
            assertThatThrownBy(() -> mem.longArray(0, 10).get(10)).isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("index 10").hasMessageContaining("10 longs");
            assertThat(mem.stats().misses()).isZero(); // nothing was fetched for a refused access
        }
    }

    @Test
    void useAfterCloseFailsWithAClearError() {
        FarMemory mem = FarMemory.open(pool.bind("closed", MIB, 1, 4096), smallCache(64 * 1024));
        FarBuffer buf = mem.buffer();
        buf.putLong(0, 1);
        mem.close();
        assertThatThrownBy(() -> buf.getLong(0)).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
        assertThatThrownBy(mem::flush).isInstanceOf(IllegalStateException.class).hasMessageContaining("open it again");
        mem.close(); // closing twice is harmless
    }

    @Test
    void aClosedMemorysTranslationEntriesServeNothingAndAnotherMemoryTranslatesItsOwn() {
        Binding b = pool.bind("closed-entries", MIB, 1, 4096);
        FarMemory first = FarMemory.open(b, smallCache(64 * 1024));
        FarBuffer old = first.buffer();
        old.putLong(8, 1);
        assertThat(old.getLong(8)).isEqualTo(1); // this thread's entry of the first memory now translates block 0
        first.close();
        try (FarMemory second = FarMemory.open(b, smallCache(128 * 1024))) {
            FarBuffer buf = second.buffer();
            buf.getLong(4096 * 5); // the block goes into another frame than in the first memory
            buf.putLong(8, 2);
            assertThat(buf.getLong(8)).isEqualTo(2);
            assertThatThrownBy(() -> old.getLong(8)).as("a read through the closed memory, whose entry still names block 0")
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
            assertThat(buf.getLong(8)).isEqualTo(2);
        }
    }

    @Test
    void badOptionsAreRefusedWithWhatIsAllowed() {
        assertThatThrownBy(() -> FarMemoryOptions.defaults().trackingGranularity(100))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("power of two");
        Binding b = pool.bind("options", MIB, 1, 4096);
        assertThatThrownBy(() -> FarMemory.open(b, smallCache(4096)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at least 65536");
        assertThatThrownBy(() -> FarMemory.open(b, smallCache(MIB).trackingGranularity(8192)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 4096");
    }

    @Test
    void opensABindingFileAsTheOperatorWritesIt(@TempDir Path dir) throws Exception {
        Binding b = pool.bind("file", MIB, 1, 4096);
        Files.writeString(dir.resolve(Binding.SECRET_KEY), b.toJson());
        try (FarMemory mem = FarMemory.open(dir, smallCache(64 * 1024))) {
            mem.buffer().putLong(8, 5);
            assertThat(mem.buffer().getLong(8)).isEqualTo(5);
        }
    }

    @Test
    void sequentialReadsArePrefetched() {
        try (FarMemory mem = FarMemory.open(pool.bind("scan", 4 * MIB, 1, 4096), smallCache(256 * 1024))) {
            byte[] chunk = new byte[256];
            for (long at = 0; at < 4 * MIB; at += 256) mem.buffer().get(at, chunk);
            ClientMetrics.Snapshot s = mem.stats();
            assertThat(s.prefetches()).isGreaterThan(500);
            assertThat(s.hitRatio()).isGreaterThan(0.9);
        }
    }

    @Test
    void twoThreadsScanningTheirOwnHalvesAreBothPrefetched() throws Exception {
        try (FarMemory mem = FarMemory.open(pool.bind("scan2", 4 * MIB, 1, 4096), smallCache(256 * 1024))) {
            List<Thread> scanners = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                long from = t * 2 * MIB;
                Thread th = new Thread(() -> {
                    byte[] chunk = new byte[256];
                    for (long at = from; at < from + 2 * MIB; at += 256) mem.buffer().get(at, chunk);
                });
                scanners.add(th);
                th.start();
            }
            for (Thread th : scanners) th.join();
            ClientMetrics.Snapshot s = mem.stats();
            assertThat(s.prefetches()).isGreaterThan(700); // of 1024 blocks, most come ahead of the streams
            assertThat(s.hitRatio()).isGreaterThan(0.9);
        }
    }

    @Test
    void exportsTheClientMetricsOfTheContract() {
        CollectorRegistry registry = new CollectorRegistry();
        try (FarMemory mem = FarMemory.open(pool.bind("metrics", MIB, 1, 4096), smallCache(64 * 1024).registry(registry))) {
            mem.buffer().putLong(0, 1);
            mem.flush();
            Set<String> names = new TreeSet<>();
            for (Collector.MetricFamilySamples f : Collections.list(registry.metricFamilySamples())) {
                for (Collector.MetricFamilySamples.Sample s : f.samples) {
                    names.add(s.name);
                    assertThat(s.labelNames).contains("claim");
                }
            }
            assertThat(names).contains("farmem_client_hits_total", "farmem_client_misses_total", "farmem_client_evictions_total",
                    "farmem_client_prefetches_total", "farmem_client_fetched_bytes_total", "farmem_client_written_back_bytes_total",
                    "farmem_client_written_back_lines_total", "farmem_client_writeback_line_ideal_bytes_total",
                    "farmem_client_writeback_page_equivalent_bytes_total", "farmem_client_fetch_duration_seconds_bucket",
                    "farmem_client_writeback_duration_seconds_count", "farmem_client_writeback_errors_total",
                    "farmem_client_replica_failures_total", "farmem_client_cache_capacity_bytes", "farmem_client_cache_dirty_bytes");
            assertThat(registry.getSampleValue("farmem_client_written_back_bytes_total", new String[] {"claim"},
                    new String[] {"metrics"})).isEqualTo(64.0);
        }
        assertThat(Collections.list(registry.metricFamilySamples())).isEmpty(); // closed: unregistered
    }
}
