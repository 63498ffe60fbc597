package dev.farmem.client.sidecar;

import dev.farmem.client.engine.CacheEngine;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * The requests that may block, which the event loop hands over: a flush, a miss that must wait
 * (its block being loaded, or no clean frame), and a miss that came while the sidecar closed.
 * The answer goes into the slot through the
 * dispatcher's answering methods, as from the loop.
 *
 * <p>Threads: the sidecar's workers, one request per call. It keeps no state of its own, so any
 * number of workers may serve at once; each holds the engine's read lock while it works.
 */
final class BlockingRequests {

    private final SharedControl control;
    private final CurrentEngine current;
    private final ClientCounters counters;
    private final RequestDispatcher dispatcher;

    BlockingRequests(SharedControl control, CurrentEngine current, ClientCounters counters, RequestDispatcher dispatcher) {
        this.control = control;
        this.current = current;
        this.counters = counters;
        this.dispatcher = dispatcher;
    }

    void serve(int slot, long seq) {
        ReentrantReadWriteLock.ReadLock l = current.readLock();
        l.lock();
        try {
            CacheEngine engine = current.engine();
            switch (control.op(slot)) {
                case SharedControl.OP_MISS -> {
                    long block = dispatcher.checkedBlock(slot);
                    int h = dispatcher.checkedHazard(slot);
                    dispatcher.answerMiss(slot, seq, h, engine.pin(block), engine);
                }
                case SharedControl.OP_FLUSH -> {
                    counters.takeInto(current.metrics()); // an application about to close published its final counts
                    engine.flush();
                    dispatcher.respond(slot, seq, 0, null);
                }
                default -> dispatcher.respond(slot, seq, SharedControl.RESULT_ERROR, "unknown request " + control.op(slot)
                        + ": the application's farmem version does not match the sidecar's");
            }
        } catch (RuntimeException e) {
            dispatcher.fail(slot, seq, e);
        } finally {
            l.unlock();
        }
    }
}
