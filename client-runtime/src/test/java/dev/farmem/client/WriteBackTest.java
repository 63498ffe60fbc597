package dev.farmem.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.Endpoint;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.ForwardingConnection;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.tcp.NettyTransport;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Write-back that does not hold frames until the replicas acknowledge: a dirty frame is reusable
 * once its lines are sent, and what that must not cost (issue 14): a refetch never reads the
 * bytes from before a write-back still in flight, and a write-back that reached no replica is
 * reported by the next flush although its frame holds another block by then.
 */
class WriteBackTest {

    private static final long MIB = 1 << 20;
    private static EmbeddedPool pool;

    @BeforeAll
    static void startPool() {
        pool = EmbeddedPool.start(1, 16 * MIB, MIB);
    }

    @AfterAll
    static void stopPool() {
        pool.close();
    }

    /** 16 frames (the least a cache has), no background flusher: evictions write back, and only they and flush do. */
    private static FarMemoryOptions sixteenFrames(Transport transport) {
        return FarMemoryOptions.defaults().cacheBytes(16 * 4096).backgroundFlusher(false).prefetchDepth(0).transport(() -> transport);
    }

    @Test
    void aBlockEvictedWhileItsWriteBackIsUnacknowledgedIsRefetchedOnlyAfterTheAcknowledgement() throws Exception {
        Binding b = pool.bind("in-flight", MIB, 1, 4096);
        HeldWrites held = new HeldWrites();
        try (held; FarMemory mem = FarMemory.open(b, sixteenFrames(held))) {
            FarBuffer buf = mem.buffer();
            buf.putLong(64, 42); // block 0 dirty
            held.hold.set(true);
            // every frame dirty, so each miss evicts a dirty block: block 0's write-back is held, yet its frame is reused
            for (long block = 1; block <= 32; block++) buf.putLong(block * 4096, block);
            assertThat(held.held).as("write-backs sent but not delivered or acknowledged").isNotEmpty();
            assertThat(mem.stats().evictions()).isGreaterThanOrEqualTo(17);

            AtomicLong read = new AtomicLong(-1);
            long missesBefore = mem.stats().misses();
            Thread reader = new Thread(() -> read.set(buf.getLong(64)), "refetch");
            reader.start();
            // until its miss waits, parked (or the reader is done: then it did not wait for the write-back)
            while (reader.isAlive() && (mem.stats().misses() == missesBefore || !parked(reader))) Thread.onSpinWait();
            assertThat(held.readsOfBlock0WhileHeld.get()).as("READs of block 0 sent while its write-back was unacknowledged").isZero();
            held.release(false);
            reader.join();
            assertThat(read.get()).isEqualTo(42);
        }
        try (FarMemory fresh = FarMemory.open(b, FarMemoryOptions.defaults().cacheBytes(MIB))) {
            assertThat(fresh.buffer().getLong(64)).isEqualTo(42);
        }
    }

    @Test
    void aWriteBackThatReachesNoReplicaFailsTheNextFlushThoughItsFrameWasReused() {
        Binding b = pool.bind("lost", MIB, 1, 4096);
        HeldWrites held = new HeldWrites();
        try (held; FarMemory mem = FarMemory.open(b, sixteenFrames(held))) {
            FarBuffer buf = mem.buffer();
            for (long block = 0; block < 16; block++) buf.putLong(block * 4096, block); // every frame dirty
            held.hold.set(true);
            buf.putLong(16 * 4096, 16); // evicts a dirty block: its frame now holds block 16
            assertThat(held.held).hasSize(1);
            held.release(true); // the write-back fails: the only replica is lost
            assertThat(mem.stats().writebackErrors()).isPositive();
            assertThatThrownBy(mem::flush)
                    .isInstanceOf(TransportException.class)
                    .hasMessageContaining("since the last flush")
                    .hasMessageContaining("no live replica left for the write-back")
                    .hasMessageContaining("node went away");
            // The other frames' lines reached no replica either, but their frames still hold them: they stay dirty, and closing says so.
            assertThatThrownBy(mem::close).hasMessageContaining("no live replica left for the write-back");
        }
    }

    @Test
    void everyDirtyLineOfEveryEvictedBlockReachesTheAgentWhileAcknowledgementsLag() throws Exception {
        Binding b = pool.bind("lagging", MIB, 1, 4096);
        long longs = MIB / 8;
        long[] shadow = new long[(int) longs];
        LaggingAcks lagging = new LaggingAcks();
        try (lagging; FarMemory mem = FarMemory.open(b, FarMemoryOptions.defaults().cacheBytes(16 * 4096).transport(() -> lagging))) {
            FarLongArray arr = mem.longArray(0, longs);
            StressThreads.run(2, 100_000, 2_000_000_000L, me -> rnd -> {
                long i = (long) rnd.nextInt((int) (longs / 2)) * 2 + me;
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
        try (FarMemory fresh = FarMemory.open(b, FarMemoryOptions.defaults().cacheBytes(MIB))) {
            FarLongArray arr = fresh.longArray(0, longs);
            for (int i = 0; i < longs; i++) {
                if (arr.get(i) != shadow[i]) throw new AssertionError("index " + i + ": far " + arr.get(i) + ", shadow " + shadow[i]);
            }
        }
    }

    private static boolean parked(Thread t) {
        Thread.State s = t.getState();
        return s == Thread.State.WAITING || s == Thread.State.TIMED_WAITING;
    }

    /** Wraps each connection of a real TCP transport. */
    private abstract static class Wrapping implements Transport {
        private final NettyTransport inner = new NettyTransport();

        abstract MemoryNodeConnection wrap(MemoryNodeConnection c);

        @Override
        public String name() {
            return inner.name();
        }

        @Override
        public CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token) {
            return inner.connect(endpoint, token).thenApply(this::wrap);
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    /**
     * While {@code hold} is set, WRITEVs are neither delivered nor acknowledged (their bytes are
     * copied, as the transport's contract says) until {@link #release}, which delivers them or
     * fails them as a node that went away would; counts the READs of block 0 sent meanwhile.
     */
    private static final class HeldWrites extends Wrapping {
        final AtomicBoolean hold = new AtomicBoolean();
        final List<java.util.function.Consumer<Boolean>> held = new CopyOnWriteArrayList<>();
        final AtomicLong readsOfBlock0WhileHeld = new AtomicLong();

        @Override
        MemoryNodeConnection wrap(MemoryNodeConnection c) {
            return new ForwardingConnection(c) {
                @Override
                public CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst) {
                    if (!held.isEmpty() && slab == 0 && offset < 4096) readsOfBlock0WhileHeld.incrementAndGet();
                    return delegate.read(slab, offset, dst);
                }

                @Override
                public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
                    if (!hold.get()) return delegate.writev(slab, batch);
                    WriteBatch copy = copy(batch);
                    CompletableFuture<Void> acknowledged = new CompletableFuture<>();
                    held.add(fail -> {
                        if (fail) {
                            acknowledged.completeExceptionally(new TransportException(ErrorCode.CONNECTION_CLOSED, "node went away"));
                            return;
                        }
                        delegate.writev(slab, copy).whenComplete((ok, err) -> {
                            if (err == null) acknowledged.complete(null); else acknowledged.completeExceptionally(err);
                        });
                    });
                    return acknowledged;
                }
            };
        }

        void release(boolean fail) {
            hold.set(false);
            List<java.util.function.Consumer<Boolean>> now = new ArrayList<>(held);
            held.clear();
            now.forEach(w -> w.accept(fail));
        }
    }

    /**
     * WRITEVs are delivered at once but acknowledged about a millisecond later (by a timer thread,
     * not asserted on), so evictions reuse frames whose write-backs are unacknowledged and misses
     * on their blocks find them in flight.
     */
    private static final class LaggingAcks extends Wrapping {
        private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();

        @Override
        MemoryNodeConnection wrap(MemoryNodeConnection c) {
            return new ForwardingConnection(c) {
                @Override
                public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
                    CompletableFuture<Void> acknowledged = new CompletableFuture<>();
                    delegate.writev(slab, batch).whenComplete((ok, err) -> timer.schedule(() -> {
                        if (err == null) acknowledged.complete(null); else acknowledged.completeExceptionally(err);
                    }, 1, TimeUnit.MILLISECONDS));
                    return acknowledged;
                }
            };
        }

        @Override
        public void close() {
            super.close();
            timer.shutdownNow();
        }
    }

    private static WriteBatch copy(WriteBatch batch) {
        WriteBatch copy = new WriteBatch(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            ByteBuffer bytes = ByteBuffer.allocateDirect(batch.length(i));
            for (int k = 0; k < batch.length(i); k++) bytes.put(k, batch.source(i).get(batch.sourceIndex(i) + k));
            copy.add(batch.remoteOffset(i), bytes, 0, batch.length(i));
        }
        return copy;
    }
}
