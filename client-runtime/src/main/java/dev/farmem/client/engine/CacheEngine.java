package dev.farmem.client.engine;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.client.cache.ClockHand;
import dev.farmem.client.cache.DirtyLineMask;
import dev.farmem.client.cache.Translation;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.wire.Protocol;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executor;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The cache engine over a {@link CacheRegion}: misses (merged per block), CLOCK eviction of
 * clean frames, sequential prefetch, and write-back of dirty lines coalesced into runs: the
 * background flusher and {@link #flush()} send the runs of many blocks of one claim slab in one
 * WRITEV per replica, a write-back that makes room for a miss sends its one block.
 *
 * <p>Frame life cycle: a miss claims a clean victim ({@code EXCLUSIVE}), makes its version odd,
 * moves the table entry to the new block, fetches, makes the version even and releases the
 * frame. Writers pin frames; readers read optimistically and validate the version. A dirty
 * frame is never evicted: its dirty lines are taken and sent first. With {@code reuseOnSend} (a
 * region that dies with this process, over a transport that copies anyway) the write is sent from
 * a copy of its lines, so the frame is clean and may be reused at once, without waiting for the
 * replicas' acknowledgement (a page-sized write-back on a busy link
 * takes far longer to be acknowledged than to be sent); the write stays in flight by block
 * instead, and a miss on that block fetches only once it was acknowledged, so a refetch cannot
 * read stale bytes. A block has at most one write-back in flight, so two cannot overtake each other.
 * The lines go from a copy because a binding change can refuse the write after its frame was
 * reused, and it then goes again to the newer binding's replicas ({@link CurrentRouter}).
 * Otherwise a frame keeps its write-back flag until the acknowledgement and until the transport
 * no longer reads it ({@code writev} with a release): in a region that outlives this process (a
 * sidecar's, in a shared file), because a sidecar started again after a crash marks such frames
 * dirty again, and only then is no line lost that a dead connection dropped; and where the
 * transport WRITEs from the registered frames with no copy (RDMA), because the NIC reads the
 * frame until the WRITE completed, which is also the acknowledgement.
 */
public final class CacheEngine implements BlockCache {

    /** Wire cost of one more WRITEV segment (offset and length), for choosing runs vs the whole block. */
    static final int SEGMENT_OVERHEAD = 16;
    private static final int FLUSHER_MAX_IN_FLIGHT = 32;
    /**
     * Bounds of one coalesced WRITEV: the agent's segment limit, and a quarter of its default
     * frame limit (1 MiB), so a request never approaches what the agent refuses.
     */
    static final int COALESCED_MAX_SEGMENTS = Protocol.DEFAULT_MAX_SEGMENTS;
    static final long COALESCED_MAX_BYTES = 256 * 1024;

    private final CacheRegion region;
    private final ClockHand clock;
    private final CurrentRouter router;
    private final ClientMetrics metrics;
    private final String claim;
    private final long slabSize;
    private final long blockCount;
    private final int blockShift;
    private final int blockSize;
    private final int linesPerUnit;
    private final int prefetchDepth;
    private final double flusherLowWatermark;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition frameReleased = lock.newCondition();
    private final Thread flusher;
    /** The last miss of each of a few sequential streams (threads scanning their own ranges); under lock. */
    private final long[] streams = new long[8];
    private int nextStream;
    /**
     * Write-backs sent and not yet acknowledged by every replica, by block (at most one per
     * block): a miss on one of these blocks fetches after it, a new write-back of it waits for it.
     */
    private final ConcurrentHashMap<Long, CompletableFuture<Void>> writesInFlight = new ConcurrentHashMap<>();
    /**
     * Why a write-back reached no replica, since the last flush, not even of a newer binding within
     * the request timeout, and its frames were already reused, so the lines could not be put back;
     * the next {@link #flush()} reports it instead of returning.
     */
    private final AtomicReference<Throwable> lostWriteBack = new AtomicReference<>();
    /** Frames are reusable once their write-back is sent (in-process), not only once it is acknowledged (a sidecar's shared region). */
    private final boolean reuseOnSend;
    private volatile boolean closed;

    /** Where the engine's reads and writes go: the router of the claim's newest binding. */
    public CurrentRouter router() {
        return router;
    }

    /** An engine over a region that may outlive this process (a sidecar's): frames are reused only once their write-back is acknowledged. */
    public CacheEngine(CacheRegion region, CurrentRouter router, ClientMetrics metrics, String claim, long claimBytes,
                       long slabSize, int trackingGranularity, int prefetchDepth, boolean backgroundFlusher,
                       double flusherLowWatermark) {
        this(region, router, metrics, claim, claimBytes, slabSize, trackingGranularity, prefetchDepth, backgroundFlusher,
                flusherLowWatermark, false);
    }

    /**
     * With {@code reuseOnSend} (a region that dies with this process) a dirty frame is reusable as
     * soon as its write-back is sent; see the class comment.
     */
    public CacheEngine(CacheRegion region, CurrentRouter router, ClientMetrics metrics, String claim, long claimBytes,
                       long slabSize, int trackingGranularity, int prefetchDepth, boolean backgroundFlusher,
                       double flusherLowWatermark, boolean reuseOnSend) {
        this.reuseOnSend = reuseOnSend;
        this.region = region;
        this.clock = new ClockHand(region);
        this.router = router;
        this.metrics = metrics;
        this.claim = claim;
        this.slabSize = slabSize;
        this.blockSize = region.blockSize();
        this.blockShift = region.blockShift();
        this.blockCount = claimBytes >>> blockShift;
        this.linesPerUnit = trackingGranularity / CacheRegion.LINE;
        this.prefetchDepth = prefetchDepth;
        this.flusherLowWatermark = flusherLowWatermark;
        if (blockCount > CacheRegion.MAX_BLOCKS) {
            throw new IllegalArgumentException("a claim of " + blockCount + " blocks is more than the cache can address ("
                    + CacheRegion.MAX_BLOCKS + "): use a larger block size");
        }
        Arrays.fill(streams, Long.MIN_VALUE / 2);
        if (backgroundFlusher) {
            flusher = new Thread(this::runFlusher, "farmem-flusher-" + claim);
            flusher.setDaemon(true);
            flusher.start();
        } else {
            flusher = null;
        }
    }

    public CacheRegion region() {
        return region;
    }

    public boolean isClosed() {
        return closed;
    }

    public void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("far memory of claim " + claim + " is closed: open it again to use it");
        }
    }

    // ---- misses ------------------------------------------------------------------------

    /**
     * Returns the frame holding {@code block}, pinned (eviction will not take it until
     * {@link #unpin}); fetches the block on a miss. Counts one hit or one miss.
     */
    public int pin(long block) {
        Translation t = metrics.hits.mine(); // the thread's entry translates the block and counts the hit
        long s = region.tryOptimisticRead(block, t);
        if (s >= 0) {
            int f = region.stampFrame(s);
            if (tryPin(f, block)) {
                t.countHit();
                region.touch(f);
                return f;
            }
            t.forget();
        }
        return pinWaiting(block, false);
    }

    /**
     * Serves a miss without blocking the calling thread: the future of the pinned frame,
     * completed at once on a hit and otherwise on the transport's thread when the fetch ends.
     * A miss that has to wait (its block is being loaded by another miss, or every frame is
     * pinned or dirty) is served by {@link #pin} on {@code waiter}. Counts one hit or one miss.
     */
    @Override
    public CompletableFuture<Integer> pinAsync(long block, Executor waiter) {
        ensureOpen();
        Look l = look(block, false, false);
        if (l.fetch != null) {
            int frame = l.frame;
            return l.fetch.handle((ok, err) -> {
                if (err != null) {
                    abandon(frame, block);
                    throw rethrow("fetching block " + block + " of claim " + claim, err);
                }
                release(frame, 1);
                return frame;
            });
        }
        if (l.frame >= 0) return CompletableFuture.completedFuture(l.frame);
        return CompletableFuture.supplyAsync(() -> pinWaiting(block, true), waiter);
    }

    /** The misses of a batch leave together: one write per memory node (the router's transport gathers them). */
    @Override
    public Transport.Gather gather() {
        return router.gather();
    }

    /** The slow path of {@link #pin}: looks again under the lock, and waits when it has to. */
    private int pinWaiting(long block, boolean missCounted) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(router.timeoutMillis() * 4);
        for (;;) {
            ensureOpen();
            Look l = look(block, missCounted, true);
            missCounted = true;
            if (l.fetch != null) {
                finishFetch(l.frame, block, l.fetch);
                return l.frame;
            }
            if (l.frame >= 0) return l.frame;
            if (!l.loading) makeRoom(l.dirty, block, deadline);
        }
    }

    /**
     * What one look under the lock found for {@code block}: a pinned hit ({@code frame}, no
     * fetch); a frame claimed and installed for it with its demand fetch started ({@code frame}
     * and {@code fetch}; sequential prefetches started too); the block being loaded by another
     * miss ({@code loading}); or no clean frame free ({@code dirty}: a cold dirty frame to write
     * back, or -1).
     */
    private record Look(int frame, CompletableFuture<Void> fetch, boolean loading, int dirty) {}

    /**
     * Looks {@code block} up under the lock and claims a victim for it when absent. With
     * {@code mayWait}, a block being loaded by another miss is waited for here, under the lock,
     * so its release is not missed (up to 5 ms, then the caller looks again).
     */
    private Look look(long block, boolean missCounted, boolean mayWait) {
        int load;
        long[] prefetchBlocks = null;
        int[] prefetchFrames = null;
        lock.lock();
        try {
            int f = region.lookup(block);
            if (f >= 0) {
                if (tryPin(f, block)) {
                    if (!missCounted) metrics.countHit();
                    region.touch(f);
                    return new Look(f, null, false, -1);
                }
                if (!missCounted) metrics.misses.increment(); // merged with the fetch in flight
                if (mayWait) frameReleased.awaitNanos(TimeUnit.MILLISECONDS.toNanos(5));
                return new Look(-1, null, true, -1);
            }
            if (!missCounted) metrics.misses.increment();
            int victim = clock.claimVictim();
            if (clock.skippedDirty() > 0 && flusher != null) LockSupport.unpark(flusher);
            if (victim < 0) return new Look(-1, null, false, clock.dirtyCandidate());
            install(victim, block);
            load = victim;
            int n = sequentialPrefetchCount(block);
            if (n > 0) {
                prefetchBlocks = new long[n];
                prefetchFrames = new int[n];
                int k = 0;
                for (long b = block + 1; b <= block + n; b++) {
                    if (region.lookup(b) >= 0) continue;
                    int v = clock.claimVictim();
                    if (v < 0) break;
                    install(v, b);
                    prefetchBlocks[k] = b;
                    prefetchFrames[k++] = v;
                }
                if (k < n) prefetchFrames = Arrays.copyOf(prefetchFrames, k);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for block " + block + " of claim " + claim, e);
        } finally {
            lock.unlock();
        }
        CompletableFuture<Void> demand = startFetch(load, block);
        if (prefetchFrames != null) {
            for (int i = 0; i < prefetchFrames.length; i++) prefetch(prefetchFrames[i], prefetchBlocks[i]);
        }
        return new Look(load, demand, false, -1);
    }

    @Override
    public ThreadLocalCounter hits() {
        return metrics.hits;
    }

    public void unpin(int frame) {
        region.unpin(frame);
    }

    private boolean tryPin(int f, long block) {
        if (!region.tryPin(f)) return false;
        if (region.tag(f) == block + 1) return true;
        region.unpin(f);
        return false;
    }

    /** Under the lock: the victim (EXCLUSIVE, clean) now stands for {@code block}; readers of its old block retry. */
    private void install(int victim, long block) {
        long old = region.tag(victim);
        region.beginChange(victim);
        if (old != 0) {
            region.remove(old - 1);
            metrics.evictions.increment();
        }
        region.setTag(victim, block + 1);
        region.clearAccess(victim);
        region.insert(block, victim);
    }

    /** Under the lock: how many blocks to fetch ahead when {@code block} continues a sequential stream. */
    private int sequentialPrefetchCount(long block) {
        if (prefetchDepth == 0) return 0;
        int stream = -1;
        for (int i = 0; i < streams.length && stream < 0; i++) {
            if (block > streams[i] && block <= streams[i] + prefetchDepth + 1) stream = i;
        }
        if (stream < 0) {
            streams[nextStream] = block; // a new stream replaces the oldest one
            nextStream = (nextStream + 1) % streams.length;
            return 0;
        }
        streams[stream] = block;
        return (int) Math.min(prefetchDepth, blockCount - 1 - block);
    }

    /** Fetches the block into the frame, after the block's write-back in flight, if any, ended (the agent has the newest bytes then). */
    private CompletableFuture<Void> startFetch(int frame, long block) {
        CompletableFuture<Void> written = writesInFlight.get(block);
        if (written != null && !written.isDone()) {
            return written.handle((ok, err) -> null).thenCompose(v -> fetchNow(frame, block));
        }
        return fetchNow(frame, block);
    }

    private CompletableFuture<Void> fetchNow(int frame, long block) {
        long address = block << blockShift;
        long start = System.nanoTime();
        CompletableFuture<Void> f;
        try {
            f = router.read(address / slabSize, address % slabSize, region.frameSlice(frame));
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        return f.whenComplete((ok, err) -> {
            if (err == null) {
                metrics.observeFetch(System.nanoTime() - start);
                metrics.fetchedBytes.add(blockSize);
            }
        });
    }

    /** Waits for the demand fetch; returns with the frame pinned once for the caller. */
    private void finishFetch(int frame, long block, CompletableFuture<Void> fetch) {
        BlockCache.spinForMiss(fetch);
        try {
            fetch.join();
        } catch (CompletionException | CancellationException e) {
            abandon(frame, block);
            throw rethrow("fetching block " + block + " of claim " + claim, e);
        }
        release(frame, 1);
    }

    private void prefetch(int frame, long block) {
        startFetch(frame, block).whenComplete((ok, err) -> {
            if (err == null) {
                metrics.prefetches.increment();
                release(frame, 0);
            } else {
                abandon(frame, block);
            }
        });
    }

    /** The frame's data is final: readers may use it; the state becomes {@code pins}. */
    private void release(int frame, int pins) {
        region.endChange(frame);
        lock.lock();
        try {
            region.setState(frame, pins);
            frameReleased.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** A fetch failed: the frame goes back empty so the next access tries again. */
    private void abandon(int frame, long block) {
        lock.lock();
        try {
            region.remove(block);
            region.setTag(frame, 0);
            region.endChange(frame);
            region.setState(frame, 0);
            frameReleased.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * No clean frame was free: write back a cold dirty one (clean once sent: its acknowledgement
     * is not waited for, see the class comment; a failure is reported by the next flush), or wait
     * for pins and write-backs to end.
     */
    private void makeRoom(int dirtyFrame, long block, long deadline) {
        if (flusher != null) LockSupport.unpark(flusher);
        if (dirtyFrame >= 0 && region.tryBeginWriteBack(dirtyFrame)) {
            CompletableFuture<Void> written = writeBack(dirtyFrame);
            if (!reuseOnSend) await(written, "writing back a frame to make room");
            return;
        }
        if (System.nanoTime() > deadline) {
            throw new IllegalStateException("no cache frame could be freed for block " + block + " of claim " + claim
                    + ": every frame is pinned or being written back; the cache (" + region.frameCount()
                    + " frames) is too small for this many concurrent threads");
        }
        LockSupport.parkNanos(20_000);
    }

    // ---- writes and write-back ---------------------------------------------------------

    /** Marks bytes {@code [offset, offset + length)} of a pinned frame dirty; call after writing them. */
    public void markDirty(int frame, int offset, int length) {
        region.markDirty(frame, offset, length, metrics.dirtyLines, metrics.dirtyWords);
    }

    /**
     * Writes back the dirty lines of a frame whose write-back flag the caller holds, after the
     * write-back of its block already in flight, if any, ended; the flag is released once the
     * lines are sent. The future completes when every replica acknowledged them.
     */
    CompletableFuture<Void> writeBack(int frame) {
        CompletableFuture<Void> earlier = writesInFlight.get(region.tag(frame) - 1);
        if (earlier != null) {
            try {
                earlier.join(); // parks; rare: the block was written back, written again and chosen again within one round trip
            } catch (CompletionException | CancellationException e) {
                // recorded in lostWriteBack by the write-back that failed
            }
        }
        WriteBatch batch = new WriteBatch(8);
        Taken t = take(frame, batch);
        if (t == null) return CompletableFuture.completedFuture(null);
        return send(t.slab(), batch, List.of(t));
    }

    /**
     * The dirty lines a write-back took from one frame: its block, the lines it held, the claim slab the block lies in, and
     * the mask it took with the frame's version then (to put the lines back should the write reach no replica).
     */
    private record Taken(int frame, long block, int dirtyLines, long slab, long[] mask, long version) {}

    /** True when a write-back of the block of a frame whose write-back flag the caller holds is still in flight. */
    private boolean writingBack(int frame) {
        CompletableFuture<Void> w = writesInFlight.get(region.tag(frame) - 1);
        return w != null && !w.isDone();
    }

    /**
     * Takes the dirty mask of a frame whose write-back flag the caller holds and adds its runs
     * (or the whole block, when the runs would cost more on the wire) to {@code batch}. Returns
     * null, and releases the flag, when the frame was clean.
     */
    private Taken take(int frame, WriteBatch batch) {
        int words = region.maskWords();
        long[] taken = new long[words];
        long any = 0;
        for (int w = 0; w < words; w++) {
            taken[w] = region.takeMask(frame, w);
            any |= taken[w];
        }
        if (any == 0) {
            region.endWriteBack(frame);
            return null;
        }
        int dirtyLines = DirtyLineMask.countLines(taken, words);
        metrics.dirtyLines.add(-dirtyLines);
        for (long t : taken) if (t != 0) metrics.dirtyWords.decrement();

        long[] send = taken.clone();
        DirtyLineMask.widen(send, words, linesPerUnit);
        int lines = region.linesPerBlock();
        int[] starts = new int[lines];
        int[] lengths = new int[lines];
        int runs = DirtyLineMask.runs(send, lines, starts, lengths);
        int sendLines = DirtyLineMask.countLines(send, words);
        long address = (region.tag(frame) - 1) << blockShift;
        long offset = address % slabSize;
        if ((long) sendLines * CacheRegion.LINE + (long) runs * SEGMENT_OVERHEAD >= blockSize + SEGMENT_OVERHEAD) {
            batch.add(offset, region.buffer(), region.dataIndex(frame, 0), blockSize);
        } else {
            for (int i = 0; i < runs; i++) {
                int at = starts[i] << CacheRegion.LINE_SHIFT;
                batch.add(offset + at, region.buffer(), region.dataIndex(frame, at), lengths[i] << CacheRegion.LINE_SHIFT);
            }
        }
        return new Taken(frame, address >>> blockShift, dirtyLines, address / slabSize, taken, region.version(frame));
    }

    /**
     * Sends one WRITEV of claim slab {@code slab} carrying the lines taken from {@code frames},
     * and releases their write-back flags as soon as it is sent (from a copy of their lines); else
     * (a region that outlives this process, or frames an RDMA transport WRITEs from with no copy)
     * once acknowledged and no longer read by the transport: the write stays in flight by
     * block until every replica acknowledged it, on this binding or, when a binding change refused
     * it or its slab had no replica left, on a newer one ({@link CurrentRouter}; a reused frame's
     * lines go from a copy). When no newer binding came in time, the lines are dirty again if
     * their frame still holds them (a later write-back sends them), else the failure is kept for
     * the next {@link #flush()}.
     */
    private CompletableFuture<Void> send(long slab, WriteBatch batch, List<Taken> frames) {
        long bytes = batch.totalBytes();
        long start = System.nanoTime();
        // A write a binding change refused is sent again on the newer one, after the frames may hold other blocks.
        // Frames held until then are sent as they are, and the transport says when it no longer reads them (RDMA
        // WRITEs from registered frames, and lets go at the WRITE's completion; a failed one once its QP is gone).
        CompletableFuture<Void> sourcesFree = new CompletableFuture<>();
        CompletableFuture<Void> sent = writev(slab, reuseOnSend ? copied(batch) : batch, () -> sourcesFree.complete(null));
        // in flight before the frames can be reused, so a miss on their blocks sees it
        for (Taken t : frames) writesInFlight.put(t.block(), sent);
        CompletableFuture<Void> acknowledged = sent.whenComplete((ok, err) -> {
            if (err == null) {
                metrics.observeWriteback(System.nanoTime() - start);
                metrics.writtenBackBytes.add(bytes);
                metrics.writtenBackLines.add(bytes >>> CacheRegion.LINE_SHIFT);
                for (Taken t : frames) {
                    metrics.lineIdealBytes.add((long) t.dirtyLines() * CacheRegion.LINE);
                    metrics.pageEquivalentBytes.add(blockSize);
                }
            } else {
                metrics.writebackErrors.increment();
                boolean kept = true;
                for (Taken t : frames) kept &= keepDirty(t);
                if (!kept) lostWriteBack.compareAndSet(null, err instanceof CompletionException && err.getCause() != null ? err.getCause() : err);
            }
            for (Taken t : frames) writesInFlight.remove(t.block(), sent);
            if (!reuseOnSend) sourcesFree.thenRun(() -> { for (Taken t : frames) region.endWriteBack(t.frame()); });
        });
        if (reuseOnSend) for (Taken t : frames) region.endWriteBack(t.frame());
        return acknowledged;
    }

    /**
     * Puts the lines of a write-back that reached no replica (not even of a newer binding in time) back in its frame's
     * mask, so a later write-back sends them again, when the frame still holds exactly what was taken: the same block,
     * not fetched again since (its version). False when the frame was reused meanwhile: those lines are lost. Pinned
     * meanwhile, as a writer pins, so eviction cannot take the frame between the check and the mask.
     */
    private boolean keepDirty(Taken t) {
        int f = t.frame();
        if (!region.tryPin(f)) return false;
        try {
            if (region.tag(f) != t.block() + 1 || region.version(f) != t.version()) return false;
            for (int w = 0; w < t.mask().length; w++) {
                if (t.mask()[w] == 0) continue;
                long old = region.orMask(f, w, t.mask()[w]);
                metrics.dirtyLines.add(Long.bitCount(t.mask()[w] & ~old));
                if (old == 0) metrics.dirtyWords.increment();
            }
            return true;
        } finally {
            region.unpin(f);
        }
    }

    /** The batch with its bytes copied out of the frames, for as long as the write may be sent again ({@link CurrentRouter}). */
    private static WriteBatch copied(WriteBatch batch) {
        ByteBuffer bytes = ByteBuffer.allocate(Math.toIntExact(batch.totalBytes()));
        WriteBatch out = new WriteBatch(batch.size());
        int at = 0;
        for (int i = 0; i < batch.size(); i++) {
            bytes.put(at, batch.source(i), batch.sourceIndex(i), batch.length(i));
            out.add(batch.remoteOffset(i), bytes, at, batch.length(i));
            at += batch.length(i);
        }
        return out;
    }

    private CompletableFuture<Void> writev(long slab, WriteBatch batch, Runnable sourcesReleased) {
        try {
            return router.writev(slab, batch, sourcesReleased);
        } catch (RuntimeException e) {
            sourcesReleased.run();
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Frames whose write-backs go out together: the dirty lines of many blocks of one claim slab
     * travel in one WRITEV (a scatter list within one slab is what the wire carries), so a flusher
     * pass over many sparsely written blocks costs a few requests, not one per block.
     */
    private final class Coalescer {
        private final Map<Long, WriteBatch> batches = new HashMap<>();
        private final Map<Long, List<Taken>> taken = new HashMap<>();
        private final List<CompletableFuture<Void>> sent = new ArrayList<>();
        private final AtomicInteger inFlight;

        /** {@code inFlight} counts the requests this coalescer sent that have not ended. */
        Coalescer(AtomicInteger inFlight) {
            this.inFlight = inFlight;
        }

        /**
         * Adds a frame whose write-back flag the caller holds; false (and the flag released) when
         * its block has a write-back in flight, which this one must not overtake.
         */
        boolean add(int frame) {
            if (writingBack(frame)) {
                region.endWriteBack(frame);
                return false;
            }
            WriteBatch spare = new WriteBatch(8);
            Taken t = take(frame, spare);
            if (t == null) return true;
            WriteBatch batch = batches.get(t.slab());
            if (batch != null && (batch.size() + spare.size() > COALESCED_MAX_SEGMENTS || batch.totalBytes() + spare.totalBytes() > COALESCED_MAX_BYTES)) {
                sendGroup(t.slab());
                batch = null;
            }
            if (batch == null) {
                batches.put(t.slab(), spare);
                taken.put(t.slab(), new ArrayList<>(List.of(t)));
                return true;
            }
            for (int i = 0; i < spare.size(); i++) batch.add(spare.remoteOffset(i), spare.source(i), spare.sourceIndex(i), spare.length(i));
            taken.get(t.slab()).add(t);
            return true;
        }

        private void sendGroup(long slab) {
            WriteBatch batch = batches.remove(slab);
            List<Taken> frames = taken.remove(slab);
            inFlight.incrementAndGet();
            sent.add(send(slab, batch, frames).whenComplete((ok, err) -> inFlight.decrementAndGet()));
        }

        /** Sends what is gathered; the futures of every request sent. */
        List<CompletableFuture<Void>> finish() {
            for (Long slab : new ArrayList<>(batches.keySet())) sendGroup(slab);
            return sent;
        }
    }

    /**
     * Makes every write that completed before this call durable on every live replica: writes
     * back all dirty frames and waits for write-backs already in flight (a write a binding change
     * refused waits for the newer binding, up to the request timeout). Throws when a write-back
     * since the last flush reached no replica, of this binding or a newer one: the lines it carried are lost.
     */
    public void flush() {
        ensureOpen();
        flushAll();
    }

    private void flushAll() {
        // in flight from frames possibly reused since; one request carries many blocks
        List<CompletableFuture<Void>> pending = new ArrayList<>(new LinkedHashSet<>(writesInFlight.values()));
        Coalescer out = new Coalescer(new AtomicInteger());
        List<Integer> busy = new ArrayList<>();
        for (int f = 0; f < region.frameCount(); f++) {
            if (!region.isDirty(f) && (region.state(f) & CacheRegion.WRITEBACK) == 0) continue;
            if (!region.tryBeginWriteBack(f) || !out.add(f)) busy.add(f);
        }
        pending.addAll(out.finish());
        RuntimeException failure = null;
        for (CompletableFuture<Void> p : pending) {
            try {
                await(p, "flushing");
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        for (int f : busy) {
            for (;;) {
                int s = region.state(f);
                if ((s & CacheRegion.WRITEBACK) != 0) {
                    LockSupport.parkNanos(10_000);
                    continue;
                }
                if (!region.isDirty(f)) break;
                if (region.tryBeginWriteBack(f)) {
                    try {
                        await(writeBack(f), "flushing");
                    } catch (RuntimeException e) {
                        failure = e;
                    }
                    break;
                }
            }
        }
        Throwable lost = lostWriteBack.getAndSet(null);
        if (lost != null) { // the older failure, of lines whose frames were reused; this flush's own one rides along
            RuntimeException e = rethrow("writing back lines of claim " + claim + " since the last flush", new CompletionException(lost));
            if (failure != null && failure != e) e.addSuppressed(failure);
            throw e;
        }
        if (failure != null) throw failure;
    }

    private void await(CompletableFuture<Void> f, String what) {
        try {
            f.get();
        } catch (ExecutionException e) {
            throw rethrow(what + " for claim " + claim, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while " + what, e);
        }
    }

    private static RuntimeException rethrow(String what, Throwable e) {
        Throwable cause = e.getCause() != null ? e.getCause() : e;
        if (cause instanceof TransportException te) {
            return new TransportException(te.code(), what + ": " + cause.getMessage(), cause);
        }
        return new IllegalStateException(what + " failed: " + cause, cause);
    }

    /**
     * Cleans the frames the CLOCK hand will reach next, so that eviction finds clean victims
     * and rarely waits: while more than the low watermark of frames are dirty, writes back the
     * cold (access bit clear) dirty frames in a window ahead of the hand, the lines of all the
     * frames of one claim slab in one WRITEV (at most {@value #FLUSHER_MAX_IN_FLIGHT} requests
     * out). Hot frames are left alone, so a line written again and again travels once, at
     * eviction time or at flush.
     */
    private void runFlusher() {
        AtomicInteger inFlight = new AtomicInteger();
        int frames = region.frameCount();
        long low = (long) (flusherLowWatermark * frames * region.maskWords());
        int window = Math.max(Math.min(frames, 64), Math.min(frames / 8, 4096));
        while (!closed) {
            if (metrics.dirtyWords.sum() <= low || inFlight.get() >= FLUSHER_MAX_IN_FLIGHT) {
                LockSupport.parkNanos(1_000_000);
                continue;
            }
            int issued = 0;
            Coalescer out = new Coalescer(inFlight);
            int f = clock.position();
            for (int scanned = 0; scanned < window && !closed; scanned++, f = f + 1 == frames ? 0 : f + 1) {
                if (region.accessed(f) || !region.isDirty(f)) continue;
                if (!region.tryBeginWriteBack(f)) continue;
                out.add(f);
                issued++;
            }
            out.finish();
            LockSupport.parkNanos(issued == 0 ? 1_000_000 : 50_000);
        }
    }

    /** Flushes, stops the flusher and releases the connections; later use throws {@link IllegalStateException}. */
    @Override
    public void close() {
        if (closed) return;
        RuntimeException failure = null;
        try {
            flushAll();
        } catch (RuntimeException e) {
            failure = e;
        }
        closed = true;
        if (flusher != null) {
            LockSupport.unpark(flusher);
            try {
                flusher.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        router.close();
        metrics.unregister();
        if (failure != null) throw failure;
    }
}
