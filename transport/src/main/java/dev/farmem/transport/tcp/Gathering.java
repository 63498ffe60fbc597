package dev.farmem.transport.tcp;

import dev.farmem.transport.Transport;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;

/**
 * The requests one thread holds back inside {@link Transport#gather}, by connection, in the order sent. When the
 * outermost scope closes, each connection's frames go to its {@link FrameWriter} together, which writes them with one
 * system call: a batch of misses on one connection costs one write, not one each, and none is handed to the event loop
 * (a wake-up of another thread per request, which on two shared cores cost more than the request itself). One object
 * per thread and transport, reused from batch to batch: holding allocates nothing once the lists have grown.
 */
final class Gathering implements Transport.Gather {

    private final ArrayList<NettyConnection> connections = new ArrayList<>(4);
    private final ArrayList<ArrayList<ByteBuf>> frames = new ArrayList<>(4);
    /** Scopes open on the owning thread; held frames are sent when it drops to 0. */
    private int depth;

    /** Opens one more scope. */
    Gathering open() {
        depth++;
        return this;
    }

    boolean isOpen() {
        return depth > 0;
    }

    /** Holds {@code frame} of {@code connection} until the scope closes. */
    void hold(NettyConnection connection, ByteBuf frame) {
        int i = connections.indexOf(connection); // a batch reaches a handful of connections: a scan beats a map
        if (i < 0) {
            i = connections.size();
            connections.add(connection);
            if (frames.size() <= i) frames.add(new ArrayList<>(16));
        }
        frames.get(i).add(frame);
    }

    /** Sends everything held now, each connection's frames with one write (before the thread waits for room, say). */
    void sendHeld() {
        for (int i = 0; i < connections.size(); i++) {
            ArrayList<ByteBuf> held = frames.get(i);
            connections.get(i).sendGathered(held);
            held.clear();
        }
        connections.clear();
    }

    @Override
    public void close() {
        if (depth == 0) throw new IllegalStateException("gather scope closed more often than opened");
        if (--depth == 0) sendHeld();
    }
}
