package dev.farmem.client.sidecar;

import dev.farmem.client.engine.CacheEngine;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The sidecar's conductor: serves the applications' requests from their slots in the control
 * file, on the one event loop that also runs the connections to the memory nodes. A doorbell
 * ({@link DoorbellServer}) or the housekeeper's nudge makes it look at a slot; a miss starts here
 * without blocking ({@code CacheEngine.pinAsync}) and is answered by the thread that completes
 * it, usually this same loop reading the node's response. A flush, or a miss that must wait, goes
 * to {@link BlockingRequests} on a worker. After it starts or answers a request the loop may keep
 * polling instead of sleeping (see {@link #keepPolling}).
 *
 * <p>Thread: the event loop. Everything that touches the dispatch state ({@code dispatched},
 * the polling fields) checks that it runs there. The answering methods ({@link #answerMiss},
 * {@link #respond}, {@link #fail}) may run on any thread: they write only the slot they answer.
 */
final class RequestDispatcher implements AutoCloseable {

    /** How long after requests from two threads the sidecar stays with doorbells. */
    private static final long SHARED_NANOS = 10_000_000;

    private final SharedControl control;
    private final CurrentEngine current;
    private final long blockCount;
    private final Executor workers;
    private final BlockingRequests blocking;
    private final EventLoop loop;
    private final long pollNanos;
    private final DoorbellServer doorbells;
    private final Runnable poll = this::poll;
    private final AtomicInteger fetching = new AtomicInteger(); // misses started on the loop, not yet answered (any thread completes them)
    private volatile boolean open = true;
    // event loop only
    private final long[] dispatched;
    private long pollUntil;
    private boolean polling;
    private int lastSlot = -1; // the slot of the last request started
    private long sharedUntil; // until then, requests came from more than one thread: no polling

    /** Starts listening for doorbells in {@code dir} on {@code io}'s loop. */
    RequestDispatcher(Path dir, SharedControl control, CurrentEngine current, long blockCount, ClientCounters counters,
                      EventLoopGroup io, Executor workers, long pollMicros) throws IOException {
        this.control = control;
        this.current = current;
        this.blockCount = blockCount;
        this.workers = workers;
        this.loop = io.next();
        this.pollNanos = TimeUnit.MICROSECONDS.toNanos(pollMicros);
        this.sharedUntil = System.nanoTime(); // nanoTime has an arbitrary origin: "already past", not 0
        this.dispatched = new long[control.maxClients() * control.threadsPerClient()];
        Arrays.fill(dispatched, -1);
        control.polling(false); // a sidecar that crashed while polling left it set
        this.blocking = new BlockingRequests(control, current, counters, this);
        this.doorbells = new DoorbellServer(dir, control, io, this::serveSlot); // last: bells ring from here on
    }

    /** Makes the loop look at every slot once (the housekeeper's nudge: a request no bell announced). */
    void nudge() {
        loop.execute(this::serveAllSlots);
    }

    /** Wake-ups sent to application threads that slept on their doorbells. */
    long wakesSent() {
        return doorbells.wakes();
    }

    /** Serves no more requests; a sleeping application sees its doorbell close and looks at the state. */
    @Override
    public void close() {
        open = false;
        doorbells.close();
    }

    private void onLoop() {
        if (!loop.inEventLoop()) {
            throw new IllegalStateException("the sidecar's request dispatch runs on its event loop only, not on " + Thread.currentThread().getName());
        }
    }

    /**
     * Starts the new request of {@code slot}, if it has one (a bell rang, or the loop looks). A
     * miss starts here without blocking; a flush goes to a worker.
     */
    private void serveSlot(int slot) {
        onLoop();
        if (!open || control.owner(slot / control.threadsPerClient()) <= 0) return;
        long seq = control.requestSeq(slot);
        if (seq == dispatched[slot] || seq == control.responseSeq(slot)) return;
        dispatched[slot] = seq;
        if (pollNanos > 0) {
            if (slot != lastSlot) { // a second thread: polling would take the core the threads share
                if (lastSlot >= 0) sharedUntil = System.nanoTime() + SHARED_NANOS;
                lastSlot = slot;
            }
            keepPolling();
        }
        if (control.op(slot) == SharedControl.OP_MISS) startMiss(slot, seq);
        else workers.execute(() -> blocking.serve(slot, seq));
    }

    /**
     * After the loop started or answered a request: keeps polling the slots and its connections
     * while the one miss it started is being fetched, and for {@code pollNanos} after the last
     * request or answer. The node's answer finds this loop awake, and a thread that asks
     * meanwhile (a miss after a miss) rings no bell: neither waits for this thread to be woken
     * from its select, which on a virtual machine costs about a third of a miss. It polls only
     * for a thread that has the sidecar to itself: with two misses out, or requests from two
     * threads in the last {@link #SHARED_NANOS}, the threads keep the loop busy anyway, and a loop
     * that never sleeps took a core from them (two threads on 2 cores made a third of their
     * misses). The flag in the control file tells applications; clearing it is followed by one
     * more look (Dekker with the application's post, then read).
     */
    private void keepPolling() {
        long now = System.nanoTime();
        if (fetching.get() > 0 || now - sharedUntil < 0) return; // threads share the sidecar: no polling
        pollUntil = now + pollNanos;
        if (polling) return;
        polling = true;
        control.polling(true);
        loop.execute(poll);
    }

    private void poll() {
        onLoop();
        serveAllSlots();
        int out = fetching.get();
        long now = System.nanoTime();
        if (open && out <= 1 && now - sharedUntil >= 0 && (out == 1 || now - pollUntil < 0)) {
            loop.execute(poll); // the loop runs its I/O (a non-blocking select) between tasks
            return;
        }
        polling = false;
        control.polling(false); // full fence, then one more look: a request posted before this saw the flag set and rang no bell
        serveAllSlots();
    }

    /** Serves every request no bell announced (posted while the sidecar restarted, or while it polled). */
    private void serveAllSlots() {
        onLoop();
        for (int c = 0; c < control.maxClients(); c++) {
            if (control.owner(c) <= 0) continue;
            int used = Math.min(control.threadsUsed(c), control.threadsPerClient());
            for (int t = 0; t < used; t++) serveSlot(control.slot(c, t));
        }
    }

    /**
     * A miss, without blocking the loop: a hit or a started fetch is answered by whichever thread
     * completes it; a miss that must wait is served on a worker by the engine itself. While the
     * sidecar closes (the engine's write lock is held) the request goes to a worker, which waits.
     */
    private void startMiss(int slot, long seq) {
        ReentrantReadWriteLock.ReadLock l = current.readLock();
        if (!l.tryLock()) {
            workers.execute(() -> blocking.serve(slot, seq));
            return;
        }
        try {
            CacheEngine e = current.engine();
            long block = checkedBlock(slot);
            int h = checkedHazard(slot);
            CompletableFuture<Integer> pinned;
            fetching.incrementAndGet();
            try {
                pinned = e.pinAsync(block, workers);
            } catch (RuntimeException thrown) { // the miss is not out: a count left behind would keep the loop polling
                fetching.decrementAndGet();
                throw thrown;
            }
            pinned.whenComplete((f, err) -> {
                fetching.decrementAndGet();
                if (err == null) answerMiss(slot, seq, h, f, e);
                else fail(slot, seq, err instanceof CompletionException && err.getCause() != null ? err.getCause() : err);
            });
        } catch (RuntimeException e) {
            fail(slot, seq, e);
        } finally {
            l.unlock();
        }
    }

    // ---- the slot's request and answer: any thread ---------------------------------------

    long checkedBlock(int slot) {
        long block = control.block(slot);
        if (block < 0 || block >= blockCount) {
            throw new IndexOutOfBoundsException("block " + block + " is outside claim " + current.binding().claim() + " (" + blockCount + " blocks)");
        }
        return block;
    }

    int checkedHazard(int slot) {
        int h = control.hazardIndex(slot);
        if (h < 0 || h >= SharedControl.HAZARDS) throw new IllegalArgumentException("hazard index " + h + " is not in 0.." + (SharedControl.HAZARDS - 1));
        return h;
    }

    /**
     * Hands frame {@code f} (pinned by us) to the application: publishes it in the request's
     * hazard, answers, then drops our pin, so the frame is covered from fetch to use. A hazard
     * that no longer holds the request's reservation means the application gave up: no answer.
     */
    void answerMiss(int slot, long seq, int h, int f, CacheEngine e) {
        try {
            long reservation = SharedControl.reservation(seq);
            long hazard = control.hazard(slot, h);
            if ((hazard & 0xFFFF_FFFF_0000_0000L) != reservation) return;
            if (!control.casHazard(slot, h, hazard, reservation | (f + 1L))) return;
            respond(slot, seq, f, null);
        } finally {
            e.unpin(f);
        }
    }

    void fail(int slot, long seq, Throwable e) {
        respond(slot, seq, SharedControl.RESULT_ERROR, e.getMessage() != null ? e.getMessage() : e.toString());
    }

    /** Answers in the slot, then wakes its thread if it sleeps (the flag is read after the answer is written: Dekker). */
    void respond(int slot, long seq, int result, String message) {
        control.respond(slot, seq, result, message);
        if (control.waiting(slot)) doorbells.wake(slot);
        else if (pollNanos > 0 && loop.inEventLoop()) keepPolling(); // the thread spins: its next request may come at once
    }
}
