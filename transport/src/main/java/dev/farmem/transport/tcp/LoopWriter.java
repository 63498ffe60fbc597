package dev.farmem.transport.tcp;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Hands frames to the channel's event loop: callers queue them, one task on the loop writes
 * everything queued and flushes once, so concurrent callers share system calls. Every request
 * then costs a hand-off to the loop (a wake-up when it sleeps); {@link DirectWriter} avoids that
 * where the channel allows it. Used for channels on a caller's event loop (the sidecar's).
 */
final class LoopWriter implements FrameWriter {

    private final Channel channel;
    private final Queue<ByteBuf> outbox = new ConcurrentLinkedQueue<>();
    private final AtomicBoolean drainScheduled = new AtomicBoolean();

    LoopWriter(Channel channel) {
        this.channel = channel;
    }

    @Override
    public void send(ByteBuf frame, boolean alone) {
        outbox.add(frame);
        if (drainScheduled.compareAndSet(false, true)) channel.eventLoop().execute(this::drain);
    }

    @Override
    public void sendAll(List<ByteBuf> frames) {
        outbox.addAll(frames);
        if (drainScheduled.compareAndSet(false, true)) channel.eventLoop().execute(this::drain);
    }

    /** On the event loop: writes everything queued, one flush. */
    private void drain() {
        drainScheduled.set(false);
        ByteBuf frame;
        boolean wrote = false;
        while ((frame = outbox.poll()) != null) {
            channel.write(frame, channel.voidPromise());
            wrote = true;
        }
        if (wrote) channel.flush();
    }

    @Override
    public void discardQueued() {
        channel.eventLoop().execute(() -> {
            ByteBuf frame;
            while ((frame = outbox.poll()) != null) frame.release();
        });
    }
}
