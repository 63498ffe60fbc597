package dev.farmem.transport.tcp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A caller writes a lone frame, or a gathered burst with one write, to the socket itself and hands the others to the
 * event loop; when the peer stops reading and the socket fills, the event loop takes over the rest. Whatever path a
 * frame takes, the peer receives every frame whole and in the order sent, whichever threads sent them.
 */
class DirectWriterTest {

    private static final int FRAME = 64 << 10;

    private EventLoopGroup group;
    private ServerSocketChannel server;
    private SocketChannel peer;
    private DirectChannel channel;
    private final AtomicReference<IOException> failure = new AtomicReference<>();
    private DirectWriter writer;

    @BeforeEach
    void connect() throws Exception {
        group = EventLoops.nioGroup(1, "direct-writer-test");
        server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        channel = (DirectChannel) new Bootstrap().group(group).channelFactory(DirectChannel::new)
                .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .handler(new ChannelInboundHandlerAdapter())
                .connect(server.getLocalAddress()).syncUninterruptibly().channel();
        peer = server.accept();
        writer = new DirectWriter(channel, failure::set);
    }

    @AfterEach
    void close() throws IOException {
        channel.close().syncUninterruptibly();
        peer.close();
        server.close();
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    @Test
    void framesSentWhileThePeerDoesNotReadArriveWholeAndInOrderOnceItReads() throws Exception {
        // 32 MiB is far more than loopback's socket buffers hold: most of it waits for the event loop.
        int frames = 512;
        for (int i = 0; i < frames; i++) writer.send(frame(i), true);
        assertEquals(frames, readFrames(frames).size());
        assertEquals(null, failure.get());
    }

    @Test
    void framesOfManyThreadsAloneOrNotArriveWholeEachThreadsInItsOrder() throws Exception {
        int threads = 4;
        int perThread = 64;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> senders = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int first = t * perThread;
            Thread s = new Thread(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (int i = 0; i < perThread; i++) writer.send(frame(first + i), i % 3 != 0);
            });
            s.start();
            senders.add(s);
        }
        start.countDown();
        List<Integer> seen = readFrames(threads * perThread);
        for (Thread s : senders) s.join();
        int[] next = new int[threads];
        for (int n : seen) {
            int t = n / perThread;
            assertEquals(t * perThread + next[t], n, "frames of sender " + t + " out of order: " + seen);
            next[t]++;
        }
        assertEquals(null, failure.get());
    }

    @Test
    void gatheredBurstsArriveWholeAndInOrderBehindEarlierFramesAlsoWhenTheSocketFills() throws Exception {
        // 64 bursts of 8 frames of 64 KiB: the socket fills in the first bursts, the loop writes the rest of each.
        List<ByteBuf> burst = new ArrayList<>();
        writer.send(frame(0), true);
        for (int b = 0; b < 64; b++) {
            for (int i = 0; i < 8; i++) burst.add(frame(1 + b * 8 + i));
            writer.sendAll(burst);
            burst.clear();
        }
        writer.send(frame(513), false);
        List<Integer> seen = readFrames(514);
        for (int i = 0; i < seen.size(); i++) assertEquals(i, seen.get(i), "frames out of order: " + seen);
        assertEquals(null, failure.get());
    }

    @Test
    void aBurstSentAfterTheConnectionFailedIsDroppedNotWritten() throws Exception {
        writer.discardQueued();
        List<ByteBuf> burst = List.of(frame(0), frame(1));
        writer.sendAll(burst);
        for (ByteBuf f : burst) assertEquals(0, f.refCnt());
        peer.configureBlocking(false);
        assertEquals(0, peer.read(ByteBuffer.allocate(16)));
    }

    @Test
    void anInterruptedCallersFrameIsWrittenByTheEventLoopAndTheConnectionStaysOpen() throws Exception {
        Thread.currentThread().interrupt();
        try {
            writer.send(frame(7), true);
        } finally {
            assertTrue(Thread.interrupted(), "the caller's interrupt is left to the caller");
        }
        assertEquals(List.of(7), readFrames(1));
        assertTrue(channel.isOpen());
        writer.send(frame(8), true);
        assertEquals(List.of(8), readFrames(1));
        assertEquals(null, failure.get());
    }

    @Test
    void aFrameSentAfterTheConnectionFailedIsDroppedNotWritten() throws Exception {
        writer.discardQueued();
        ByteBuf f = frame(0);
        writer.send(f, true);
        assertEquals(0, f.refCnt());
        peer.configureBlocking(false);
        assertEquals(0, peer.read(ByteBuffer.allocate(16)));
    }

    /** A frame of {@link #FRAME} bytes, each int of it the frame's number. */
    private static ByteBuf frame(int n) {
        ByteBuf b = PooledByteBufAllocator.DEFAULT.directBuffer(FRAME);
        while (b.isWritable()) b.writeInt(n);
        return b;
    }

    /** Reads {@code count} frames, checking that each is whole (one number throughout); returns their numbers in arrival order. */
    private List<Integer> readFrames(int count) throws IOException {
        ByteBuffer in = ByteBuffer.allocateDirect(FRAME);
        List<Integer> numbers = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            in.clear();
            while (in.hasRemaining()) assertTrue(peer.read(in) >= 0, "connection closed after " + i + " frames");
            in.flip();
            int n = in.getInt(0);
            while (in.hasRemaining()) assertEquals(n, in.getInt(), "frame " + i + " is not whole: bytes of two frames mixed");
            numbers.add(n);
        }
        return numbers;
    }
}
