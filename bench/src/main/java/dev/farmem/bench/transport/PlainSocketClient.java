package dev.farmem.bench.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.SocketChannel;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/** The client of {@link PlainSocketPeer}: a sender that keeps up to {@code depth} requests out and a receiver that counts responses. */
final class PlainSocketClient implements AutoCloseable {

    private final SocketChannel ch;
    private final ByteBuffer request;
    private final int responseLength;
    private final ByteBuffer in = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);

    PlainSocketClient(InetSocketAddress peer, int payloadLength, int responseLength) throws IOException {
        ch = SocketChannel.open(peer);
        ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
        this.responseLength = responseLength;
        request = ByteBuffer.allocateDirect(PlainSocketPeer.HEADER + payloadLength).order(ByteOrder.LITTLE_ENDIAN);
        request.putInt(payloadLength).putInt(responseLength).putLong(0).clear();
    }

    /** One request, one response; returns the round-trip time in nanoseconds. */
    long roundTrip() throws IOException {
        long start = System.nanoTime();
        ByteBuffer r = request.duplicate();
        while (r.hasRemaining()) ch.write(r);
        int want = PlainSocketPeer.HEADER + responseLength;
        in.clear().limit(want);
        while (in.hasRemaining()) if (ch.read(in) < 0) throw new IOException("peer closed");
        return System.nanoTime() - start;
    }

    /** Requests kept {@code depth} deep for {@code nanos}; returns the responses received per second. */
    double pipelined(int depth, long nanos) throws Exception {
        Semaphore window = new Semaphore(depth);
        AtomicLong sent = new AtomicLong();
        AtomicBoolean done = new AtomicBoolean();
        long start = System.nanoTime();
        long end = start + nanos;
        Thread sender = new Thread(() -> {
            ByteBuffer batch = ByteBuffer.allocateDirect(request.capacity() * depth);
            try {
                while (System.nanoTime() < end) {
                    window.acquire();
                    int n = 1 + window.drainPermits();
                    batch.clear();
                    for (int i = 0; i < n; i++) batch.put(request.duplicate());
                    batch.flip();
                    while (batch.hasRemaining()) ch.write(batch);
                    sent.addAndGet(n);
                }
                // One last request past the window, counted and flagged before it is written (its response
                // may come back at once), so the receiver always has a response to wait for until it sees done.
                sent.incrementAndGet();
                done.set(true);
                ByteBuffer last = request.duplicate();
                while (last.hasRemaining()) ch.write(last);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, "plain-sender");
        sender.start();
        long received = 0;
        int frame = PlainSocketPeer.HEADER + responseLength;
        long buffered = 0;
        in.clear();
        while (!(done.get() && received >= sent.get())) {
            if (ch.read(in) < 0) throw new IOException("peer closed");
            buffered += in.position();
            in.clear();
            long complete = buffered / frame;
            buffered -= complete * frame;
            received += complete;
            window.release((int) complete);
        }
        long elapsed = System.nanoTime() - start;
        sender.join();
        return received * 1e9 / elapsed;
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
