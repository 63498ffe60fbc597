package dev.farmem.agent.server;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.metrics.AgentMetrics.Closed;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.wire.FrameDecoder;
import dev.farmem.transport.wire.WireCodec;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Sits right behind the {@link FrameDecoder} and closes a connection that holds a started,
 * unfinished frame for longer than {@link ConnectionLimits#partialFrameTimeout()}, counted only
 * while the agent is reading the connection (not while it holds it back): a peer cannot pin a
 * frame buffer and a connection by stopping mid-frame. The decoder says whether it holds part of
 * a frame; a frame that finished restarts the clock.
 */
final class PartialFrameTimeout extends ChannelInboundHandlerAdapter {

    private final FrameDecoder decoder;
    private final AgentMetrics metrics;
    private final long partialFrameNanos;

    /** A frame came through since the last read completed. */
    private boolean finishedOne;
    /** When the unfinished frame was first seen unfinished; 0 when none. */
    private long partialSince;
    private ScheduledFuture<?> partialCheck;
    private boolean refused;

    PartialFrameTimeout(FrameDecoder decoder, AgentMetrics metrics, ConnectionLimits limits) {
        this.decoder = decoder;
        this.metrics = metrics;
        this.partialFrameNanos = limits.partialFrameTimeout().toNanos();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (refused) {
            ReferenceCountUtil.release(msg);
            return;
        }
        finishedOne = true;
        ctx.fireChannelRead(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (!decoder.holdsPartialFrame()) {
            partialSince = 0;
        } else if (partialSince == 0 || finishedOne) {
            partialSince = System.nanoTime();
            if (partialCheck == null) schedulePartialCheck(ctx, partialFrameNanos);
        }
        finishedOne = false;
        ctx.fireChannelReadComplete();
    }

    private void schedulePartialCheck(ChannelHandlerContext ctx, long delayNanos) {
        partialCheck = ctx.executor().schedule(() -> checkPartial(ctx), delayNanos, TimeUnit.NANOSECONDS);
    }

    private void checkPartial(ChannelHandlerContext ctx) {
        partialCheck = null;
        if (partialSince == 0 || refused || !ctx.channel().isActive()) return;
        if (!ctx.channel().config().isAutoRead()) {
            // The agent holds this connection back (replies not drained, or attaching): the peer cannot be finishing.
            partialSince = System.nanoTime();
            schedulePartialCheck(ctx, partialFrameNanos);
            return;
        }
        long waited = System.nanoTime() - partialSince;
        if (waited < partialFrameNanos) {
            schedulePartialCheck(ctx, partialFrameNanos - waited);
            return;
        }
        refused = true;
        metrics.error(ErrorCode.TIMEOUT);
        metrics.closed(Closed.PARTIAL_FRAME_TIMEOUT);
        ctx.channel().config().setAutoRead(false);
        String message = "a frame was started " + TimeUnit.NANOSECONDS.toMillis(waited) + " ms ago and is still unfinished (limit "
                + TimeUnit.NANOSECONDS.toMillis(partialFrameNanos) + " ms): closing the connection";
        ctx.writeAndFlush(WireCodec.error(ctx.alloc(), 0, ErrorCode.TIMEOUT, message)).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (partialCheck != null) partialCheck.cancel(false);
        ctx.fireChannelInactive();
    }
}
