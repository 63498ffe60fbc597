package dev.farmem.agent.rdma.disni;

import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * Bounds the rdma_cm handshake the node's accepting thread waits for. DiSNI's {@code RdmaServerEndpoint.accept()}
 * waits for ESTABLISHED with no timeout, and only a DISCONNECTED event ends that wait (CONNECT_ERROR, REJECTED and
 * UNREACHABLE leave it waiting): a client that sends its connect request and never completes the handshake (its
 * rdma_cm never sends the RTU) would hold the one accepting thread, and every later client would time out in
 * {@code connect}. The accepting thread says when a handshake begins (its QP exists) and when {@code accept} came
 * back; a handshake older than the limit gets the accepting thread interrupted, which ends DiSNI's wait with an
 * {@code IOException}, and the accepting thread destroys the abandoned endpoint. Connect requests that arrived
 * meanwhile wait in DiSNI's queue and are accepted next.
 *
 * <p>An interrupt is sent only while a handshake is under way and {@link #end} clears it under the same lock, so it
 * can never end a later, honest wait.
 */
final class HandshakeWatchdog<T> implements AutoCloseable {

    /** What {@link #end} found: the handshake that was under way (null if none) and whether this watchdog cut it. */
    record Ended<T>(T handshake, boolean cut) {}

    private final Thread acceptor;
    private final long limitNanos;
    private final Thread thread;
    private T pending;
    private long deadline;
    private boolean cut;
    private boolean closed;

    HandshakeWatchdog(Thread acceptor, Duration limit) {
        this.acceptor = acceptor;
        this.limitNanos = limit.toNanos();
        this.thread = new Thread(this::watch, acceptor.getName() + "-watchdog");
        thread.setDaemon(true);
        thread.start();
    }

    /** On the accepting thread: {@code handshake} began, and has the limit from now to complete. */
    synchronized void begin(T handshake) {
        pending = handshake;
        deadline = System.nanoTime() + limitNanos;
        cut = false;
        notifyAll();
    }

    /**
     * On the accepting thread, once {@code accept} returned or threw: the handshake that was under way, and whether it
     * was cut. Clears this thread's interrupt status, so an interrupt the watchdog sent cannot end the next wait.
     */
    synchronized Ended<T> end() {
        Ended<T> e = new Ended<>(pending, cut);
        pending = null;
        cut = false;
        Thread.interrupted();
        return e;
    }

    private synchronized void watch() {
        try {
            while (!closed) {
                if (pending == null || cut) {
                    wait();
                    continue;
                }
                long left = deadline - System.nanoTime();
                if (left > 0) {
                    TimeUnit.NANOSECONDS.timedWait(this, left);
                    continue;
                }
                cut = true;
                acceptor.interrupt();
            }
        } catch (InterruptedException e) {
            // closed
        }
    }

    @Override
    public synchronized void close() {
        closed = true;
        notifyAll();
    }
}
