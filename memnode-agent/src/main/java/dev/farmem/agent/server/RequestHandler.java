package dev.farmem.agent.server;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.metrics.AgentMetrics.Op;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.agent.server.TokenVerifier;
import dev.farmem.transport.wire.BadFrame;
import dev.farmem.transport.wire.Frame;
import dev.farmem.transport.wire.FrameWriter;
import dev.farmem.transport.wire.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Serves one client connection: HELLO first, then READ, WRITEV and PING against the slabs its
 * token grants. Responses are written as requests are handled and flushed once per batch read.
 *
 * <p>Two kinds of failure: a frame that breaks the protocol (malformed, oversized, before HELLO,
 * bad token) gets an error frame and the connection closes; a well-formed request that is not
 * allowed (foreign slab, out of range, fenced, read-only) gets an error frame for that request
 * and the connection goes on. Nothing is copied into the region until the whole request checked out.
 */
final class RequestHandler extends ChannelInboundHandlerAdapter {

    private final SlabStore store;
    private final TokenVerifier verifier;
    private final AgentMetrics metrics;
    private final int maxFrameSize;
    private final int maxSegments;
    /** One wrapper per slab, made once, to copy in and out of the region without allocating. */
    private final ByteBuf[] regionSlabs;

    private final Executor attacher;
    private final Admission admission;
    private CapabilityToken grant;
    private boolean attaching;
    /** Counted among the connections that have not authenticated. */
    private boolean unauthenticated;
    /** Not read, and its frames held, because its queued responses reached the limit. */
    private boolean paused;
    /** Frames decoded but not yet served, in order: pipelined behind HELLO while attaching, or read before a pause. */
    private final ArrayDeque<Frame> held = new ArrayDeque<>();
    private boolean closing;
    private ScheduledFuture<?> helloDeadline;

    RequestHandler(SlabStore store, ByteBuf[] regionSlabs, TokenVerifier verifier, AgentMetrics metrics, int maxFrameSize, int maxSegments,
                   Executor attacher, Admission admission) {
        this.store = store;
        this.attacher = attacher;
        this.admission = admission;
        this.regionSlabs = regionSlabs;
        this.verifier = verifier;
        this.metrics = metrics;
        this.maxFrameSize = maxFrameSize;
        this.maxSegments = maxSegments;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        metrics.connectionOpened();
        unauthenticated = true;
        if (!admission.arrived(ctx.channel().remoteAddress())) {
            refuseAndClose(ctx, 0, ErrorCode.CONNECTION_CLOSED, "the node has " + admission.limits.maxUnauthenticated()
                    + " connections waiting to present a HELLO, its limit: try again");
            ctx.fireChannelActive();
            return;
        }
        // A connection that never presents a token must not hold a slot forever.
        long timeout = admission.limits.helloTimeout().toMillis();
        helloDeadline = ctx.executor().schedule(() -> {
            if (grant == null && !attaching && !closing) {
                metrics.closed(AgentMetrics.Closed.HELLO_TIMEOUT);
                refuseAndClose(ctx, 0, ErrorCode.UNAUTHENTICATED, "no HELLO within " + timeout + " ms of connecting");
            }
        }, timeout, TimeUnit.MILLISECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (helloDeadline != null) helloDeadline.cancel(false);
        authenticatedOrGone();
        releaseHeld();
        metrics.connectionClosed();
        ctx.fireChannelInactive();
    }

    private void authenticatedOrGone() {
        if (unauthenticated) {
            unauthenticated = false;
            admission.left();
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof BadFrame bad) {
            refuseAndClose(ctx, bad.requestId(), bad.code(), bad.message());
            return;
        }
        Frame frame = (Frame) msg;
        if ((attaching || paused) && !closing) {
            held.add(frame); // served once the token's slabs are attached, or once the client took its responses
            return;
        }
        try {
            if (!closing) handle(ctx, frame);
        } finally {
            frame.release();
        }
        pauseIfQueueFull(ctx);
    }

    /**
     * Back-pressure: once this connection's queued responses pass the limit (the channel turns
     * unwritable), nothing more is read or served until the client took enough of them. A client
     * that sends requests and never reads replies then costs at most the limit plus one response.
     */
    private void pauseIfQueueFull(ChannelHandlerContext ctx) {
        if (paused || closing || ctx.channel().isWritable()) return;
        paused = true;
        ctx.channel().config().setAutoRead(false);
        metrics.readPaused();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (paused && ctx.channel().isWritable()) {
            paused = false;
            if (!attaching) serveHeld(ctx);
            resumeReading(ctx);
        }
        ctx.fireChannelWritabilityChanged();
    }

    /** Serves held frames in order until none is left or the queue is full again. */
    private void serveHeld(ChannelHandlerContext ctx) {
        while (!held.isEmpty() && !paused) {
            Frame f = held.poll();
            try {
                if (!closing) handle(ctx, f);
            } finally {
                f.release();
            }
            pauseIfQueueFull(ctx);
        }
        ctx.flush();
    }

    private void resumeReading(ChannelHandlerContext ctx) {
        if (!attaching && !paused && !closing && !admission.draining()) ctx.channel().config().setAutoRead(true);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        ctx.flush();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Connection resets and the like: nothing to answer, the connection is gone.
        ctx.close();
    }

    private void handle(ChannelHandlerContext ctx, Frame f) {
        long start = System.nanoTime();
        long id = f.requestId();
        ByteBuf body = f.body();
        if (grant == null && f.op() != Protocol.HELLO) {
            refuseAndClose(ctx, id, ErrorCode.UNAUTHENTICATED, Protocol.opName(f.op()) + " before HELLO: present a token first");
            return;
        }
        switch (f.op()) {
            case Protocol.HELLO -> hello(ctx, id, body, start);
            case Protocol.READ -> read(ctx, id, body, start);
            case Protocol.WRITEV -> writev(ctx, id, body, start);
            case Protocol.PING -> {
                ctx.write(FrameWriter.empty(ctx.alloc(), Protocol.PONG, id), ctx.voidPromise());
                metrics.served(Op.PING, start);
            }
            default -> refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "unknown op " + Protocol.opName(f.op()));
        }
    }

    private void hello(ChannelHandlerContext ctx, long id, ByteBuf body, long start) {
        if (grant != null) {
            refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "a second HELLO on one connection");
            return;
        }
        if (body.readableBytes() < 2 || body.getUnsignedShortLE(body.readerIndex()) != body.readableBytes() - 2) {
            refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "HELLO token length does not match the frame");
            return;
        }
        if (body.readableBytes() - 2 > Protocol.MAX_TOKEN_LENGTH) {
            refuseAndClose(ctx, id, ErrorCode.UNAUTHENTICATED, "token longer than " + Protocol.MAX_TOKEN_LENGTH + " bytes");
            return;
        }
        String token = body.toString(body.readerIndex() + 2, body.readableBytes() - 2, StandardCharsets.US_ASCII);
        CapabilityToken verified;
        try {
            verified = verifier.verify(token, System.currentTimeMillis());
        } catch (TransportException e) {
            refuseAndClose(ctx, id, e.code(), stripCode(e));
            return;
        }
        // Attaching may zero many slabs (about 10 ms per 64 MiB): off the I/O thread, which other
        // connections share. Nothing more is read from this one until HELLO_OK is sent.
        attaching = true;
        ctx.channel().config().setAutoRead(false);
        attacher.execute(() -> {
            TransportException failure = null;
            try {
                store.attach(verified);
            } catch (TransportException e) {
                failure = e;
            } catch (RuntimeException e) {
                failure = new TransportException(ErrorCode.INTERNAL, "attach failed: " + e);
            }
            TransportException refused = failure;
            try {
                ctx.executor().execute(() -> attached(ctx, id, verified, refused, start));
            } catch (RejectedExecutionException stopping) {
                // The node is shutting down; the connection goes with it.
            }
        });
    }

    /** Back on the I/O thread after the slabs were attached (or refused). */
    private void attached(ChannelHandlerContext ctx, long id, CapabilityToken verified, TransportException refused, long start) {
        attaching = false;
        if (closing) {
            releaseHeld();
            return;
        }
        if (refused != null) {
            releaseHeld();
            refuseAndClose(ctx, id, refused.code(), stripCode(refused));
            return;
        }
        metrics.slabsOwned(store.ownedSlabs());
        grant = verified;
        helloDeadline.cancel(false);
        authenticatedOrGone();
        ctx.write(FrameWriter.helloOk(ctx.alloc(), id, maxFrameSize, store.slabSize(), store.slabCount(), maxSegments), ctx.voidPromise());
        metrics.served(Op.HELLO, start);
        pauseIfQueueFull(ctx);
        serveHeld(ctx);
        resumeReading(ctx);
    }

    private void releaseHeld() {
        for (Frame f : held) f.release();
        held.clear();
    }

    private void read(ChannelHandlerContext ctx, long id, ByteBuf body, long start) {
        if (body.readableBytes() != Protocol.READ_BODY) {
            refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "READ body of " + body.readableBytes() + " bytes, expected " + Protocol.READ_BODY);
            return;
        }
        int at = body.readerIndex();
        int slab = body.getIntLE(at);
        int length = body.getIntLE(at + 4);
        long offset = body.getLongLE(at + 8);
        if (length <= 0 || length > Protocol.maxReadLength(maxFrameSize)) {
            refuseAndClose(ctx, id, ErrorCode.FRAME_TOO_LARGE, "READ length " + length + " is not in 1.." + Protocol.maxReadLength(maxFrameSize));
            return;
        }
        if (slab < 0 || slab >= store.slabCount()) {
            refuse(ctx, id, authorize(slab, offset, length, false));
            return;
        }
        // Copied under the slab's lock, not sent as a slice of the region: a response can wait in the
        // outbound buffer while the socket is full, and by then another claim may own the slab.
        ByteBuf response;
        long stamp = store.beginAccess(slab);
        try {
            TransportException denied = authorize(slab, offset, length, false);
            if (denied != null) {
                refuse(ctx, id, denied);
                return;
            }
            response = ctx.alloc().directBuffer(Protocol.HEADER_SIZE + length);
            FrameWriter.header(response, Protocol.READ_OK, id, length);
            response.writeBytes(regionSlabs[slab], (int) offset, length);
        } finally {
            store.endAccess(slab, stamp);
        }
        ctx.write(response, ctx.voidPromise());
        metrics.read(length);
        metrics.served(Op.READ, start);
    }

    private void writev(ChannelHandlerContext ctx, long id, ByteBuf body, long start) {
        int size = body.readableBytes();
        int at = body.readerIndex();
        if (size < Protocol.WRITEV_BODY_HEADER) {
            refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "WRITEV body of " + size + " bytes is shorter than its header");
            return;
        }
        int slab = body.getIntLE(at);
        int count = body.getIntLE(at + 4);
        if (count < 1 || count > maxSegments) {
            refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "WRITEV segment count " + count + " is not in 1.." + maxSegments);
            return;
        }
        if ((long) count * Protocol.SEGMENT_HEADER > size - Protocol.WRITEV_BODY_HEADER) {
            refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "WRITEV claims " + count + " segments but the frame cannot hold their headers");
            return;
        }
        // First pass: every segment is well-formed and inside the slab, before a byte is copied.
        TransportException denied = null;
        long total = 0;
        int pos = Protocol.WRITEV_BODY_HEADER;
        for (int i = 0; i < count; i++) {
            if (size - pos < Protocol.SEGMENT_HEADER) {
                refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "WRITEV segment " + i + " header is truncated");
                return;
            }
            long offset = body.getLongLE(at + pos);
            int length = body.getIntLE(at + pos + 8);
            if (length <= 0 || length > size - pos - Protocol.SEGMENT_HEADER) {
                refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "WRITEV segment " + i + " length " + length + " does not fit the frame");
                return;
            }
            if (denied == null) denied = authorize(slab, offset, length, true);
            total += length;
            pos += Protocol.SEGMENT_HEADER + length;
        }
        if (pos != size) {
            refuseAndClose(ctx, id, ErrorCode.BAD_FRAME, "WRITEV has " + (size - pos) + " bytes after its last segment");
            return;
        }
        if (denied != null) {
            refuse(ctx, id, denied);
            return;
        }
        // Second pass: copy, holding the slab against a takeover, re-checking ownership under the lock.
        long stamp = store.beginAccess(slab);
        try {
            TransportException fenced = store.checkAccess(slab, 0, 0, grant.claimUid(), grant.epoch());
            if (fenced != null) {
                refuse(ctx, id, fenced);
                return;
            }
            ByteBuf region = regionSlabs[slab];
            pos = Protocol.WRITEV_BODY_HEADER;
            for (int i = 0; i < count; i++) {
                long offset = body.getLongLE(at + pos);
                int length = body.getIntLE(at + pos + 8);
                region.setBytes((int) offset, body, at + pos + Protocol.SEGMENT_HEADER, length);
                pos += Protocol.SEGMENT_HEADER + length;
            }
        } finally {
            store.endAccess(slab, stamp);
        }
        ctx.write(FrameWriter.empty(ctx.alloc(), Protocol.WRITEV_OK, id), ctx.voidPromise());
        metrics.written(total);
        metrics.served(Op.WRITEV, start);
    }

    /** The checks every data request passes: expiry, the token grants the slab (and writes), range, fencing. */
    private TransportException authorize(int slab, long offset, int length, boolean write) {
        if (System.currentTimeMillis() >= grant.expiresAtMillis()) {
            return new TransportException(ErrorCode.TOKEN_EXPIRED, "the connection's token expired: reconnect with a fresh binding");
        }
        if (!grant.grants(slab)) {
            return new TransportException(ErrorCode.FORBIDDEN, "the token does not grant slab " + slab);
        }
        if (write && !grant.rights().canWrite()) {
            return new TransportException(ErrorCode.FORBIDDEN, "the token grants slab " + slab + " read-only");
        }
        return store.checkAccess(slab, offset, length, grant.claimUid(), grant.epoch());
    }

    private void refuse(ChannelHandlerContext ctx, long id, TransportException e) {
        metrics.error(e.code());
        ctx.write(FrameWriter.error(ctx.alloc(), id, e.code(), stripCode(e)), ctx.voidPromise());
    }

    private void refuseAndClose(ChannelHandlerContext ctx, long id, ErrorCode code, String message) {
        if (closing) return;
        closing = true;
        metrics.error(code);
        ctx.writeAndFlush(FrameWriter.error(ctx.alloc(), id, code, message)).addListener(ChannelFutureListener.CLOSE);
    }

    private static String stripCode(TransportException e) {
        String m = e.getMessage();
        String prefix = e.code() + ": ";
        return m.startsWith(prefix) ? m.substring(prefix.length()) : m;
    }

    static ByteBuf[] wrap(SlabStore store) {
        ByteBuf[] out = new ByteBuf[store.slabCount()];
        for (int i = 0; i < out.length; i++) out[i] = Unpooled.wrappedBuffer(store.slab(i).duplicate().clear());
        return out;
    }
}
