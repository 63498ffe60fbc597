package dev.farmem.transport.tcp;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.wire.BadFrame;
import dev.farmem.transport.wire.Protocol;
import dev.farmem.transport.wire.WireCodec;
import dev.farmem.transport.wire.WireFrame;
import dev.farmem.transport.wire.WireFrame.ErrorReply;
import dev.farmem.transport.wire.WireFrame.HelloOk;
import dev.farmem.transport.wire.WireFrame.ReadOk;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The client side of one TCP connection to a memory node. Callers on any thread have
 * {@link WireCodec} encode their request into a pooled buffer and send it through the connection's
 * {@link FrameWriter}: on a {@link DirectChannel} the caller of a lone request writes it to the socket
 * itself, otherwise the event loop writes it. Responses are matched to requests by id and complete their futures on
 * the event loop, which wakes a waiting caller directly: callbacks must not block (use the
 * {@code *Async} stages of {@link CompletableFuture} to move work elsewhere).
 */
final class NettyConnection implements MemoryNodeConnection {

    private static final long HELLO_ID = 1;

    private final Channel channel;
    private final Endpoint endpoint;
    private final TcpOptions options;
    private final ByteBufAllocator alloc;
    private final Map<Long, Pending> pending = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong(HELLO_ID + 1);
    private final Semaphore room;
    private final FrameWriter writer;
    /** The transport's per-thread {@link Gathering}s: a request sent inside a gather scope is held there until it closes. */
    private final ThreadLocal<Gathering> gathering;
    private final long timeoutNanos;
    private volatile TransportException closedBecause;
    private ScheduledFuture<?> sweeper;

    /** Limits the node announced in HELLO_OK. */
    private volatile int maxFrameSize;
    private volatile int maxSegments = Protocol.DEFAULT_MAX_SEGMENTS;

    NettyConnection(Channel channel, Endpoint endpoint, TcpOptions options, ThreadLocal<Gathering> gathering) {
        this.channel = channel;
        this.gathering = gathering;
        this.endpoint = endpoint;
        this.options = options;
        this.alloc = channel.alloc();
        this.room = new Semaphore(options.maxBytesInFlight());
        this.timeoutNanos = options.requestTimeout().toNanos();
        this.maxFrameSize = options.maxFrameSize();
        this.writer = channel instanceof DirectChannel direct
                ? new DirectWriter(direct, e -> fail(new TransportException(ErrorCode.CONNECTION_CLOSED,
                        "connection to " + endpoint + " failed: " + e.getMessage(), e)))
                : new LoopWriter(channel);
    }

    ChannelInboundHandlerAdapter handler() {
        return new ResponseHandler();
    }

    /** Sends the preamble and HELLO; completes when the node accepted the token. */
    CompletableFuture<MemoryNodeConnection> hello(String token) {
        long sweepMillis = Math.max(10, Math.min(100, options.requestTimeout().toMillis() / 4));
        sweeper = channel.eventLoop().scheduleAtFixedRate(this::expireOverdue, sweepMillis, sweepMillis, TimeUnit.MILLISECONDS);
        Pending p = new Pending(HELLO_ID, Kind.HELLO, null, 0, 0, System.nanoTime() + options.connectTimeout().toNanos());
        ByteBuf frame;
        try {
            frame = WireCodec.hello(alloc, HELLO_ID, token);
        } catch (IllegalArgumentException e) {
            close();
            return CompletableFuture.failedFuture(new TransportException(ErrorCode.UNAUTHENTICATED, e.getMessage()));
        }
        register(p);
        writer.send(WireCodec.preamble(alloc), false);
        writer.send(frame, false);
        return p.future.thenApply(ignored -> this);
    }

    @Override
    public CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst) {
        int length = dst.remaining();
        if (length == 0) return CompletableFuture.completedFuture(null);
        int max = Protocol.maxReadLength(maxFrameSize);
        if (length > max) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("READ of " + length + " bytes is above the largest one frame holds ("
                    + max + "): split it"));
        }
        if (offset < 0) return CompletableFuture.failedFuture(new IllegalArgumentException("READ offset " + offset + " is negative"));
        int held;
        try {
            held = acquire(length + Protocol.HEADER_SIZE);
        } catch (TransportException noRoom) {
            return CompletableFuture.failedFuture(noRoom);
        }
        long id = ids.getAndIncrement();
        Pending p = new Pending(id, Kind.READ, dst, length, held, System.nanoTime() + timeoutNanos);
        boolean alone = pending.isEmpty();
        if (!register(p)) return p.future;
        send(WireCodec.read(alloc, id, slab, offset, length), alone);
        return p.future;
    }

    @Override
    public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
        int segments = batch.size();
        if (segments == 0) return CompletableFuture.completedFuture(null);
        if (segments > maxSegments) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("WRITEV of " + segments + " segments is above the node's limit of "
                    + maxSegments + ": split the batch"));
        }
        long frameSize = WireCodec.writevFrameSize(batch);
        if (frameSize > maxFrameSize) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("WRITEV frame of " + frameSize
                    + " bytes is above the frame limit of " + maxFrameSize + ": split the batch"));
        }
        int cost = (int) frameSize;
        int held;
        try {
            held = acquire(cost);
        } catch (TransportException noRoom) {
            return CompletableFuture.failedFuture(noRoom);
        }
        long id = ids.getAndIncrement();
        // The codec copies the segments now: the caller may reuse its buffers as soon as this returns.
        ByteBuf frame = WireCodec.writev(alloc, id, slab, batch);
        Pending p = new Pending(id, Kind.WRITEV, null, 0, held, System.nanoTime() + timeoutNanos);
        boolean alone = pending.isEmpty();
        if (!register(p)) {
            frame.release();
            return p.future;
        }
        send(frame, alone);
        return p.future;
    }

    @Override
    public CompletableFuture<Long> ping() {
        long id = ids.getAndIncrement();
        Pending p = new Pending(id, Kind.PING, null, 0, 0, System.nanoTime() + timeoutNanos);
        boolean alone = pending.isEmpty();
        if (!register(p)) return p.future.thenApply(x -> 0L); // already failed
        send(WireCodec.ping(alloc, id), alone);
        return p.future.thenApply(x -> System.nanoTime() - p.sentNanos);
    }

    /** A request's frame goes to the writer, or is held when the calling thread gathers ({@link NettyTransport#gather}). */
    private void send(ByteBuf frame, boolean alone) {
        Gathering g = gathering.get();
        if (g != null && g.isOpen()) g.hold(this, frame);
        else writer.send(frame, alone);
    }

    /** The frames a thread gathered for this connection, in order, with one write where the writer can. */
    void sendGathered(List<ByteBuf> frames) {
        writer.sendAll(frames);
    }

    @Override
    public Endpoint endpoint() {
        return endpoint;
    }

    @Override
    public boolean isOpen() {
        return closedBecause == null && channel.isActive();
    }

    @Override
    public void close() {
        fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "connection to " + endpoint + " was closed by this client"));
    }

    /**
     * Takes room for {@code bytes} in flight and returns how much it took. On an event-loop thread
     * (a callback sending more) it never waits, since it would wait on itself: it takes the room
     * if there is some and otherwise sends without (0). Elsewhere it waits up to the request timeout.
     */
    private int acquire(int bytes) {
        if (channel.eventLoop().inEventLoop()) return room.tryAcquire(bytes) ? bytes : 0;
        if (room.tryAcquire(bytes)) return bytes;
        // The room comes back with replies; those to requests this thread holds come only once they are sent.
        Gathering g = gathering.get();
        if (g != null && g.isOpen()) g.sendHeld();
        try {
            if (room.tryAcquire(bytes, timeoutNanos, TimeUnit.NANOSECONDS)) return bytes;
            throw new TransportException(ErrorCode.TIMEOUT, "no room to send to " + endpoint + " within " + options.requestTimeout()
                    + ": " + options.maxBytesInFlight() + " bytes already in flight");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TransportException(ErrorCode.CONNECTION_CLOSED, "interrupted while waiting for room to send to " + endpoint);
        }
    }

    /** Records a request before it is sent; false (and the request failed) when the connection is closed. */
    private boolean register(Pending p) {
        pending.put(p.id, p);
        TransportException closed = closedBecause;
        if (closed != null && pending.remove(p.id, p)) {
            p.fail(closed);
            return false;
        }
        return true;
    }

    private void expireOverdue() {
        long now = System.nanoTime();
        for (Pending p : pending.values()) {
            if (now - p.deadline > 0 && pending.remove(p.id, p)) {
                p.fail(new TransportException(ErrorCode.TIMEOUT, p.kind + " to " + endpoint + " got no response within "
                        + (p.kind == Kind.HELLO ? options.connectTimeout() : options.requestTimeout())));
            }
        }
    }

    /** Fails every pending request with {@code cause} and closes the channel; the first cause wins. */
    private void fail(TransportException cause) {
        if (closedBecause == null) closedBecause = cause;
        TransportException reason = closedBecause;
        if (sweeper != null) sweeper.cancel(false);
        for (Pending p : pending.values()) {
            if (pending.remove(p.id, p)) p.fail(reason);
        }
        channel.close();
        writer.discardQueued();
    }

    private enum Kind { HELLO, READ, WRITEV, PING }

    private final class Pending {
        final long id;
        final Kind kind;
        final ByteBuffer dst;
        final int length;
        /** Bytes of room this request holds, returned once when it ends. */
        final int cost;
        final long deadline;
        final long sentNanos = System.nanoTime();
        final CompletableFuture<Void> future = new CompletableFuture<>();

        Pending(long id, Kind kind, ByteBuffer dst, int length, int cost, long deadline) {
            this.id = id;
            this.kind = kind;
            this.dst = dst;
            this.length = length;
            this.cost = cost;
            this.deadline = deadline;
        }

        void complete(WireFrame f) {
            room.release(cost);
            byte expected = switch (kind) {
                case HELLO -> Protocol.HELLO_OK;
                case READ -> Protocol.READ_OK;
                case WRITEV -> Protocol.WRITEV_OK;
                case PING -> Protocol.PONG;
            };
            if (f.op() != expected) {
                failConnection(kind + " got a " + Protocol.opName(f.op()) + " response");
                return;
            }
            if (f instanceof ReadOk ok) {
                ByteBuf data = ok.data();
                if (data.readableBytes() != length) {
                    failConnection("READ of " + length + " bytes got " + data.readableBytes());
                    return;
                }
                ByteBuffer target = dst.duplicate();
                target.limit(target.position() + length);
                data.getBytes(data.readerIndex(), target);
            } else if (f instanceof HelloOk hello) {
                maxFrameSize = Math.min(options.maxFrameSize(), hello.maxFrameSize());
                maxSegments = hello.maxSegments();
            }
            future.complete(null);
        }

        void fail(TransportException e) {
            room.release(cost);
            future.completeExceptionally(e);
        }
    }

    private void failConnection(String why) {
        fail(new TransportException(ErrorCode.BAD_FRAME, "node " + endpoint + " broke the protocol: " + why));
    }

    /** Matches responses to pending requests. */
    private final class ResponseHandler extends ChannelInboundHandlerAdapter {

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof BadFrame bad) {
                fail(new TransportException(bad.code(), "node " + endpoint + " sent a bad frame: " + bad.message()));
                return;
            }
            WireFrame frame = (WireFrame) msg;
            try {
                if (frame instanceof ErrorReply error) {
                    TransportException e = new TransportException(error.code(), "node " + endpoint + ": " + error.message());
                    Pending p = pending.remove(frame.requestId());
                    if (p == null || p.kind == Kind.HELLO) {
                        if (p != null) p.fail(e);
                        fail(e);
                    } else {
                        p.fail(e);
                    }
                    return;
                }
                Pending p = pending.remove(frame.requestId());
                if (p != null) p.complete(frame);
            } finally {
                frame.release();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "connection to " + endpoint + " closed"));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "connection to " + endpoint + " failed: " + cause.getMessage(), cause));
        }
    }
}
