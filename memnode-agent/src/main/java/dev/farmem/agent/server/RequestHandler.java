package dev.farmem.agent.server;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.metrics.AgentMetrics.Op;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.BadFrame;
import dev.farmem.transport.wire.Protocol;
import dev.farmem.transport.wire.WireCodec;
import dev.farmem.transport.wire.WireFrame;
import dev.farmem.transport.wire.WireFrame.Copy;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.Hello;
import dev.farmem.transport.wire.WireFrame.Ping;
import dev.farmem.transport.wire.WireFrame.Read;
import dev.farmem.transport.wire.WireFrame.Writev;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.ArrayDeque;

/**
 * Serves one authenticated connection: READ, WRITEV and PING against the slabs its grant names.
 * {@link HelloHandler} installs it once the token checked out. Responses are written as requests
 * are handled and flushed once per batch read.
 *
 * <p>Two kinds of failure: a frame that breaks the protocol (malformed, oversized, a second HELLO)
 * gets an error frame and the connection closes; a well-formed request that is not allowed
 * (foreign slab, out of range, fenced, read-only, expired) gets an error frame for that request and
 * the connection goes on. Nothing is copied into the region until the whole request checked out.
 */
final class RequestHandler extends ChannelInboundHandlerAdapter {

    private final NodeService service;
    private final SlabStore store;
    private final AgentMetrics metrics;
    private final CapabilityToken grant;
    private final Admission admission;
    /** Frames decoded but not yet served, in order: pipelined behind HELLO, or read before a pause. */
    private final ArrayDeque<WireFrame> held;
    /** Not read, and its frames held, because its queued responses reached the limit. */
    private boolean paused;
    private boolean closing;

    /** @param held frames that arrived behind the HELLO, served (in order) as this handler is added */
    RequestHandler(NodeService service, CapabilityToken grant, Admission admission, ArrayDeque<WireFrame> held) {
        this.service = service;
        this.store = service.store();
        this.metrics = service.metrics();
        this.grant = grant;
        this.admission = admission;
        this.held = held;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        pauseIfQueueFull(ctx);
        serveHeld(ctx);
        resumeReading(ctx);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releaseHeld();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        WireFrame frame = (WireFrame) msg;
        if (paused && !closing) {
            held.add(frame); // served once the client took its responses
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
            serveHeld(ctx);
            resumeReading(ctx);
        }
        ctx.fireChannelWritabilityChanged();
    }

    /** Serves held frames in order until none is left or the queue is full again. */
    private void serveHeld(ChannelHandlerContext ctx) {
        while (!held.isEmpty() && !paused) {
            WireFrame f = held.poll();
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
        if (!paused && !closing && !admission.draining()) ctx.channel().config().setAutoRead(true);
    }

    private void releaseHeld() {
        for (WireFrame f : held) f.release();
        held.clear();
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

    private void handle(ChannelHandlerContext ctx, WireFrame f) {
        long start = System.nanoTime();
        if (f instanceof Read read) {
            read(ctx, read, start);
        } else if (f instanceof Writev writev) {
            writev(ctx, writev, start);
        } else if (f instanceof Ping) {
            ctx.write(WireCodec.pong(ctx.alloc(), f.requestId()), ctx.voidPromise());
            metrics.served(Op.PING, start);
        } else if (f instanceof Copy copy) {
            copy(ctx, copy);
        } else if (f instanceof BadFrame bad) {
            refuseAndClose(ctx, bad.requestId(), bad.code(), bad.message());
        } else if (f instanceof Hello) {
            refuseAndClose(ctx, f.requestId(), ErrorCode.BAD_FRAME, "a second HELLO on one connection");
        } else {
            refuseAndClose(ctx, f.requestId(), ErrorCode.BAD_FRAME, "unknown op " + Protocol.opName(f.op()));
        }
    }

    private void read(ChannelHandlerContext ctx, Read r, long start) {
        long id = r.requestId();
        int slab = r.slab();
        if (slab < 0 || slab >= store.slabCount()) {
            refuse(ctx, id, service.authorize(grant, slab, r.offset(), r.length(), false));
            return;
        }
        // Copied under the slab's lock, not sent as a slice of the region: a response can wait in the
        // outbound buffer while the socket is full, and by then another claim may own the slab.
        ByteBuf response;
        long stamp = store.beginAccess(slab);
        try {
            TransportException denied = service.authorize(grant, slab, r.offset(), r.length(), false);
            if (denied != null) {
                refuse(ctx, id, denied);
                return;
            }
            response = WireCodec.readOk(ctx.alloc(), id, service.region(slab), (int) r.offset(), r.length());
        } finally {
            store.endAccess(slab, stamp);
        }
        ctx.write(response, ctx.voidPromise());
        metrics.read(r.length());
        metrics.served(Op.READ, start);
    }

    private void writev(ChannelHandlerContext ctx, Writev w, long start) {
        long id = w.requestId();
        int slab = w.slab();
        int count = w.segmentCount();
        // First pass: every segment is inside a slab the grant may write, before a byte is copied.
        // (The codec already checked that the segments are well-formed and fill the frame.)
        TransportException denied = null;
        long total = 0;
        for (int i = 0, s = w.first(); i < count; i++, s = w.next(s)) {
            if (denied == null) denied = service.authorize(grant, slab, w.offset(s), w.length(s), true);
            total += w.length(s);
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
            ByteBuf region = service.region(slab);
            for (int i = 0, s = w.first(); i < count; i++, s = w.next(s)) {
                region.setBytes((int) w.offset(s), w.body(), w.dataIndex(s), w.length(s));
            }
            if (!store.complete(slab)) {
                // A joining replica: the copy must not overwrite what a client wrote since the join.
                for (int i = 0, s = w.first(); i < count; i++, s = w.next(s)) store.written(slab, w.offset(s), w.length(s));
            }
        } finally {
            store.endAccess(slab, stamp);
        }
        ctx.write(WireCodec.writevOk(ctx.alloc(), id), ctx.voidPromise());
        metrics.written(total);
        metrics.served(Op.WRITEV, start);
    }

    /** The operator's COPY (re-replication): start, follow or restart a copy into this node's joining slabs. */
    private void copy(ChannelHandlerContext ctx, Copy c) {
        CopyOk ok;
        try {
            ok = service.copies().request(grant, c);
        } catch (TransportException e) {
            refuse(ctx, c.requestId(), e);
            return;
        }
        ctx.write(WireCodec.copyOk(ctx.alloc(), ok.requestId(), ok.state(), ok.bytesCopied(), ok.bytesToGo(), ok.message()), ctx.voidPromise());
    }

    private void refuse(ChannelHandlerContext ctx, long id, TransportException e) {
        metrics.error(e.code());
        ctx.write(WireCodec.error(ctx.alloc(), id, e.code(), NodeService.messageOf(e)), ctx.voidPromise());
    }

    private void refuseAndClose(ChannelHandlerContext ctx, long id, ErrorCode code, String message) {
        if (closing) return;
        closing = true;
        metrics.error(code);
        ctx.writeAndFlush(WireCodec.error(ctx.alloc(), id, code, message)).addListener(ChannelFutureListener.CLOSE);
    }
}
