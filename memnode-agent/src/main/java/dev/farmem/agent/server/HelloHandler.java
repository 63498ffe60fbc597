package dev.farmem.agent.server;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.metrics.AgentMetrics.Closed;
import dev.farmem.agent.metrics.AgentMetrics.Op;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.BadFrame;
import dev.farmem.transport.wire.Protocol;
import dev.farmem.transport.wire.WireCodec;
import dev.farmem.transport.wire.WireFrame;
import dev.farmem.transport.wire.WireFrame.Hello;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.concurrent.Executor;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A connection's frames reach this handler until it authenticates, and nothing else does: it
 * counts the connection among those that have not presented a HELLO (refusing it over
 * {@link ConnectionLimits#maxUnauthenticated()}), gives it {@link ConnectionLimits#helloTimeout()}
 * to present one, verifies the token and attaches its slabs off the I/O thread. Then it answers
 * HELLO_OK and puts a {@link RequestHandler} holding the grant in its own place, handing it the
 * frames the client pipelined behind its HELLO, and sets the connection to close when the token
 * expires. Anything but a HELLO first is refused and the connection closed.
 */
final class HelloHandler extends ChannelInboundHandlerAdapter {

    private final NodeService service;
    private final AgentMetrics metrics;
    private final Admission admission;
    /** Attaches (and zeroes) slabs, off the I/O threads that other connections share. */
    private final Executor attacher;
    /** Frames that arrived while the HELLO's slabs were being attached, in order; the request handler serves them. */
    private final ArrayDeque<WireFrame> held = new ArrayDeque<>();
    /** Counted among the connections that have not authenticated. */
    private boolean unauthenticated;
    private boolean attaching;
    private boolean closing;
    private ScheduledFuture<?> helloDeadline;

    HelloHandler(NodeService service, Admission admission, Executor attacher) {
        this.service = service;
        this.metrics = service.metrics();
        this.admission = admission;
        this.attacher = attacher;
    }

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
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
            if (!attaching && !closing) {
                metrics.closed(Closed.HELLO_TIMEOUT);
                refuseAndClose(ctx, 0, ErrorCode.UNAUTHENTICATED, "no HELLO within " + timeout + " ms of connecting");
            }
        }, timeout, TimeUnit.MILLISECONDS);
        ctx.fireChannelActive();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        closing = true;
        if (helloDeadline != null) helloDeadline.cancel(false);
        authenticatedOrGone();
        releaseHeld();
        ctx.fireChannelInactive();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        WireFrame frame = (WireFrame) msg;
        if (closing) {
            frame.release();
        } else if (attaching) {
            held.add(frame);
        } else if (frame instanceof Hello hello) {
            hello(ctx, hello);
        } else if (frame instanceof BadFrame bad && (bad.op() == BadFrame.NO_OP || bad.op() == Protocol.HELLO)) {
            // With no op, the input broke before a frame was decoded: the preamble, or a first frame above its limit.
            if (bad.code() == ErrorCode.FRAME_TOO_LARGE) metrics.closed(Closed.HELLO_TOO_LARGE);
            refuseAndClose(ctx, bad.requestId(), bad.code(), bad.message());
        } else {
            // Whatever else a frame before HELLO is, well-formed or not, it is not allowed.
            frame.release();
            refuseAndClose(ctx, frame.requestId(), ErrorCode.UNAUTHENTICATED, Protocol.opName(frame.op()) + " before HELLO: present a token first");
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Connection resets and the like: nothing to answer, the connection is gone.
        ctx.close();
    }

    private void hello(ChannelHandlerContext ctx, Hello hello) {
        long start = System.nanoTime();
        long id = hello.requestId();
        CapabilityToken grant;
        try {
            grant = service.verify(hello.token());
        } catch (TransportException e) {
            refuseAndClose(ctx, id, e.code(), NodeService.messageOf(e));
            return;
        }
        // Nothing more is read from this connection until HELLO_OK is sent.
        attaching = true;
        ctx.channel().config().setAutoRead(false);
        attacher.execute(() -> {
            TransportException failure = null;
            try {
                service.attach(grant);
            } catch (TransportException e) {
                failure = e;
            }
            TransportException refused = failure;
            try {
                ctx.executor().execute(() -> attached(ctx, id, grant, refused, start));
            } catch (RejectedExecutionException stopping) {
                // The node is shutting down; the connection goes with it.
            }
        });
    }

    /** Back on the I/O thread after the slabs were attached (or refused). */
    private void attached(ChannelHandlerContext ctx, long id, CapabilityToken grant, TransportException refused, long start) {
        attaching = false;
        if (closing) {
            releaseHeld();
            return;
        }
        if (refused != null) {
            releaseHeld();
            refuseAndClose(ctx, id, refused.code(), NodeService.messageOf(refused));
            return;
        }
        helloDeadline.cancel(false);
        authenticatedOrGone();
        ctx.write(WireCodec.helloOk(ctx.alloc(), service.helloOk(id)), ctx.voidPromise());
        metrics.served(Op.HELLO, start);
        // The request handler serves the held frames as it is added, then resumes reading.
        ctx.pipeline().replace(this, "requests", new RequestHandler(service, grant, admission, held));
        closeAtExpiry(ctx.channel(), grant);
    }

    /**
     * A connection lives no longer than its token: at the token's expiry it gets TOKEN_EXPIRED and
     * closes. This is what ends a deleted claim's access (the agent never learns of the deletion),
     * and one timer per connection costs nothing per request, where a clock read on every request
     * would. A client renews its tokens at half their life and moves to new connections long before.
     */
    private void closeAtExpiry(Channel channel, CapabilityToken grant) {
        long delay = grant.expiresAtMillis() - System.currentTimeMillis();
        ScheduledFuture<?> expiry = channel.eventLoop().schedule(() -> {
            if (!channel.isActive()) return;
            metrics.closed(Closed.TOKEN_EXPIRED);
            metrics.error(ErrorCode.TOKEN_EXPIRED);
            channel.writeAndFlush(WireCodec.error(channel.alloc(), 0, ErrorCode.TOKEN_EXPIRED, "the connection's token expired at "
                    + Instant.ofEpochMilli(grant.expiresAtMillis()) + ": reconnect with the renewed token of the binding"))
                    .addListener(ChannelFutureListener.CLOSE);
        }, Math.max(0, delay), TimeUnit.MILLISECONDS);
        channel.closeFuture().addListener(f -> expiry.cancel(false));
    }

    private void authenticatedOrGone() {
        if (unauthenticated) {
            unauthenticated = false;
            admission.left();
        }
    }

    private void releaseHeld() {
        for (WireFrame f : held) f.release();
        held.clear();
    }

    private void refuseAndClose(ChannelHandlerContext ctx, long id, ErrorCode code, String message) {
        if (closing) return;
        closing = true;
        metrics.error(code);
        ctx.writeAndFlush(WireCodec.error(ctx.alloc(), id, code, message)).addListener(ChannelFutureListener.CLOSE);
    }
}
