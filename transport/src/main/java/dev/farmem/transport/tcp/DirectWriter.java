package dev.farmem.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFuture;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * A request with no other in flight on its connection (a miss at queue depth 1) is written to the
 * socket by its caller: it costs no hand-off to the event loop, which would have to wake, write
 * and sleep again before the request reaches the wire. A request sent while others await their
 * replies goes to the event loop, which is awake for those replies anyway and writes every frame
 * queued by then with one system call: written by their callers, a pipelined burst cost a system
 * call each and lost two thirds of the pipelined throughput (docs/benchmarks.md, "Transport").
 * When the socket's send buffer is full, the unwritten rest goes to the event loop too, which
 * writes it as the socket drains (Netty's own write path). Callers write directly again once the
 * loop has written everything it was given; one lock orders the writers.
 */
final class DirectWriter implements FrameWriter {

    private final DirectChannel channel;
    private final SocketChannel socket;
    private final Consumer<IOException> onFailure;
    private final ReentrantLock lock = new ReentrantLock();
    /** Frames for the event loop, in order; guarded by {@link #lock}. */
    private final ArrayDeque<ByteBuf> queued = new ArrayDeque<>();
    /** True while the event loop writes (frames queued or in Netty's outbound buffer); guarded by {@link #lock}. */
    private boolean viaLoop;
    /** The views of a gathered burst, reused; guarded by {@link #lock}. */
    private ByteBuffer[] gathered = new ByteBuffer[16];
    /** The connection failed: frames sent from now on are dropped; guarded by {@link #lock}. */
    private boolean discarded;

    DirectWriter(DirectChannel channel, Consumer<IOException> onFailure) {
        this.channel = channel;
        this.socket = channel.jdkChannel();
        this.onFailure = onFailure;
    }

    @Override
    public void send(ByteBuf frame, boolean alone) {
        IOException failed = null;
        lock.lock();
        try {
            if (discarded) {
                frame.release();
                return;
            }
            // The JDK closes a channel that an interrupted thread does I/O on: an interrupted caller's
            // frame goes to the event loop, or one interrupt would fail every request of the connection.
            // (An interrupt that arrives during the write itself still closes it; the requests then fail.)
            if (!viaLoop && alone && !Thread.currentThread().isInterrupted()) {
                try {
                    ByteBuffer bytes = frame.nioBuffer();
                    socket.write(bytes);
                    if (!bytes.hasRemaining()) {
                        frame.release();
                        return;
                    }
                    frame.skipBytes(frame.readableBytes() - bytes.remaining());
                } catch (IOException e) {
                    frame.release();
                    failed = e;
                    return;
                }
            }
            queued.add(frame);
            if (!viaLoop) {
                viaLoop = true;
                channel.eventLoop().execute(this::drain);
            }
        } finally {
            lock.unlock();
            if (failed != null) onFailure.accept(failed);
        }
    }

    /**
     * A thread's gathered frames: written by the caller with one gathering write (writev) whenever the event loop is
     * not writing, whether or not other requests are in flight, since the burst costs one system call either way; what
     * the socket does not take goes to the event loop, as for a lone frame.
     */
    @Override
    public void sendAll(List<ByteBuf> frames) {
        int n = frames.size();
        if (n == 0) return;
        IOException failed = null;
        lock.lock();
        try {
            if (discarded) {
                for (ByteBuf f : frames) f.release();
                return;
            }
            int first = 0;
            if (!viaLoop && !Thread.currentThread().isInterrupted()) { // an interrupted caller: see send
                if (gathered.length < n) gathered = new ByteBuffer[Math.max(n, gathered.length * 2)];
                for (int i = 0; i < n; i++) gathered[i] = frames.get(i).nioBuffer();
                try {
                    socket.write(gathered, 0, n);
                } catch (IOException e) {
                    for (ByteBuf f : frames) f.release();
                    failed = e;
                    return;
                }
                while (first < n && !gathered[first].hasRemaining()) frames.get(first++).release();
                if (first < n) {
                    ByteBuf partial = frames.get(first);
                    partial.skipBytes(partial.readableBytes() - gathered[first].remaining());
                }
                Arrays.fill(gathered, 0, n, null);
                if (first == n) return;
            }
            for (int i = first; i < n; i++) queued.add(frames.get(i));
            if (!viaLoop) {
                viaLoop = true;
                channel.eventLoop().execute(this::drain);
            }
        } finally {
            lock.unlock();
            if (failed != null) onFailure.accept(failed);
        }
    }

    /** On the event loop: hands the queued frames to Netty; callers write directly again once Netty wrote them all. */
    private void drain() {
        ChannelFuture last = null;
        lock.lock();
        try {
            ByteBuf frame;
            while ((frame = queued.poll()) != null) last = channel.write(frame);
            if (last == null) {
                viaLoop = false;
                return;
            }
        } finally {
            lock.unlock();
        }
        channel.flush();
        // Completes (on the loop) once the last frame, so every frame before it, is in the socket.
        // The listener runs inside flush, where Netty ignores another flush: drain again as a task.
        last.addListener(written -> {
            if (written.isSuccess()) channel.eventLoop().execute(this::drain);
            else discardQueued(); // the connection failed: nothing more is written
        });
    }

    @Override
    public void discardQueued() {
        lock.lock();
        try {
            discarded = true;
            ByteBuf frame;
            while ((frame = queued.poll()) != null) frame.release();
        } finally {
            lock.unlock();
        }
    }
}
