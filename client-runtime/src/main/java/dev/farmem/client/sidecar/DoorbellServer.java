package dev.farmem.client.sidecar;

import dev.farmem.transport.tcp.EventLoops;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The sidecar's end of the doorbells: a UNIX domain socket ({@value #FILE} in the shared-memory
 * directory) served on the sidecar's event loop, the loop that also reads the memory nodes'
 * responses. Each application thread connects once and says which request slot is its own
 * ({@value #HELLO_BYTES} bytes, little-endian: its lease's owner token, then the slot). After
 * that, a byte from the thread means "my slot holds a new request", and a byte to it means "your
 * answer is in your slot"; the sidecar sends one only when the thread said it sleeps. Requests
 * and answers themselves stay in the shared control file: the socket carries only wake-ups, the
 * role an eventfd would play if two processes could share one without passing descriptors.
 */
final class DoorbellServer implements AutoCloseable {

    static final String FILE = "doorbell";
    static final int HELLO_BYTES = 16;
    /** sun_path is 108 bytes on Linux, with its terminating zero. */
    static final int MAX_PATH_BYTES = 107;
    private static final Logger LOG = LoggerFactory.getLogger(DoorbellServer.class);
    private static final ByteBuf WAKE = Unpooled.unreleasableBuffer(Unpooled.directBuffer(1).writeByte(1));

    private final Path file;
    private final SharedControl control;
    private final IntConsumer ring;
    private final AtomicReferenceArray<Channel> bySlot;
    private final ChannelGroup channels;
    private final Channel server;
    private final LongAdder wakes = new LongAdder();

    /** Listens at {@code dir/doorbell}; {@code ring} is called on the event loop with the slot of each bell. */
    DoorbellServer(Path dir, SharedControl control, EventLoopGroup loop, IntConsumer ring) throws IOException {
        this.file = dir.resolve(FILE);
        int pathBytes = file.toString().getBytes(StandardCharsets.UTF_8).length;
        if (pathBytes > MAX_PATH_BYTES) {
            throw new IllegalArgumentException("the shared-memory directory " + dir + " is too deep for the doorbell socket in it: "
                    + pathBytes + " bytes, a UNIX socket path holds at most " + MAX_PATH_BYTES + "; use a shorter --shm path");
        }
        this.control = control;
        this.ring = ring;
        this.bySlot = new AtomicReferenceArray<>(control.maxClients() * control.threadsPerClient());
        this.channels = new DefaultChannelGroup(loop.next());
        Files.deleteIfExists(file); // left by a sidecar that crashed
        this.server = new ServerBootstrap()
                .group(loop)
                .channel(EventLoops.serverDomainChannel())
                .childHandler(new ChannelInitializer<>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        channels.add(ch);
                        ch.pipeline().addLast(new Bell());
                    }
                })
                .bind(EventLoops.domainAddress(file)).syncUninterruptibly().channel();
        SharedControl.shareWithGroup(file); // connecting takes write permission on the socket
    }

    /** Wakes the thread of {@code slot} if it has a doorbell (any thread; a write on the event loop). */
    void wake(int slot) {
        Channel ch = bySlot.get(slot);
        if (ch == null) return;
        wakes.increment(); // before the write: a thread can never have seen more wake-ups than were counted
        ch.writeAndFlush(WAKE.duplicate(), ch.voidPromise());
    }

    /** Wake-ups sent so far. */
    long wakes() {
        return wakes.sum();
    }

    @Override
    public void close() {
        server.close().syncUninterruptibly();
        channels.close().syncUninterruptibly();
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.debug("cannot remove {}: {}", file, e.toString());
        }
    }

    /** One application thread's doorbell: its hello, then rings. */
    private final class Bell extends ChannelInboundHandlerAdapter {
        private final ByteBuf hello = Unpooled.buffer(HELLO_BYTES);
        private int slot = -1;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf in = (ByteBuf) msg;
            try {
                if (slot < 0) {
                    in.readBytes(hello, Math.min(in.readableBytes(), hello.writableBytes()));
                    if (hello.isWritable()) return;
                    if (!accept(ctx.channel(), hello.readLongLE(), hello.readIntLE())) return;
                    ring.accept(slot); // a request may have been posted before the thread connected
                }
                if (in.isReadable()) ring.accept(slot);
            } finally {
                in.release();
            }
        }

        private boolean accept(Channel ch, long token, int requested) {
            int slots = bySlot.length();
            String refused = null;
            if (requested < 0 || requested >= slots) {
                refused = "slot " + requested + " is not in 0.." + (slots - 1);
            } else if (token <= 0 || control.owner(requested / control.threadsPerClient()) != token) {
                refused = "slot " + requested + " does not belong to the lease that connected (its lease ended, or a stray process)";
            }
            if (refused != null) {
                LOG.warn("refused a doorbell connection on {}: {}", file, refused);
                ch.close();
                return false;
            }
            slot = requested;
            bySlot.set(slot, ch); // a thread that took the slot again replaces its predecessor's doorbell
            // An answer written while this doorbell was still connecting found no channel to wake (a thread whose
            // request the sidecar polled connects only when it is about to sleep): wake it now.
            if (control.waiting(slot) && control.responseSeq(slot) == control.requestSeq(slot)) wake(slot);
            return true;
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (slot >= 0) bySlot.compareAndSet(slot, ctx.channel(), null);
            hello.release();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            LOG.debug("doorbell connection failed: {}", cause.toString());
            ctx.close();
        }
    }
}
