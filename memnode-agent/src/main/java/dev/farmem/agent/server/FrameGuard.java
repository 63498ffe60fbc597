package dev.farmem.agent.server;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.metrics.AgentMetrics.Closed;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.wire.WireCodec;
import dev.farmem.transport.wire.Protocol;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Sits before the {@code FrameDecoder} and follows the frame boundaries of the bytes it passes on,
 * without copying them, for two limits the decoder does not know:
 * <ul>
 * <li>the first frame (the HELLO) may be at most {@link ConnectionLimits#MAX_HELLO_FRAME} bytes, so a
 * peer that has not authenticated cannot make the agent buffer a frame of {@code --max-frame};</li>
 * <li>a frame that was started must be finished within {@link ConnectionLimits#partialFrameTimeout()},
 * counted only while the agent is reading the connection (not while it holds it back), else the
 * connection is closed: a peer cannot pin a frame buffer and a connection by stopping mid-frame.</li>
 * </ul>
 */
final class FrameGuard extends ChannelInboundHandlerAdapter {

    private final AgentMetrics metrics;
    private final long partialFrameNanos;

    private int preambleLeft = Protocol.PREAMBLE_SIZE;
    private boolean firstFrame = true;
    /** Bytes of the length field seen so far (0..3) and their value. */
    private int lengthBytes;
    private long length;
    /** Bytes of the current frame still to come after its length field. */
    private long frameLeft;
    /** When the unfinished frame was first seen unfinished; 0 when none. */
    private long partialSince;
    private ScheduledFuture<?> partialCheck;
    private boolean refused;

    FrameGuard(AgentMetrics metrics, ConnectionLimits limits) {
        this.metrics = metrics;
        this.partialFrameNanos = limits.partialFrameTimeout().toNanos();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (refused || !(msg instanceof ByteBuf in)) {
            if (refused) {
                ReferenceCountUtil.release(msg);
            } else {
                ctx.fireChannelRead(msg);
            }
            return;
        }
        boolean finishedOne = false;
        int at = in.readerIndex();
        int end = in.writerIndex();
        while (at < end) {
            if (preambleLeft > 0) {
                int n = Math.min(preambleLeft, end - at);
                preambleLeft -= n;
                at += n;
            } else if (frameLeft > 0) {
                int n = (int) Math.min(frameLeft, end - at);
                frameLeft -= n;
                at += n;
                if (frameLeft == 0) finishedOne = true;
            } else {
                length |= (long) in.getUnsignedByte(at++) << (8 * lengthBytes++);
                if (lengthBytes == 4) {
                    if (firstFrame && length + 4 > ConnectionLimits.MAX_HELLO_FRAME) {
                        in.release();
                        refuse(ctx, Closed.HELLO_TOO_LARGE, ErrorCode.FRAME_TOO_LARGE, "first frame of " + (length + 4) + " bytes: before HELLO a frame may be at most "
                                + ConnectionLimits.MAX_HELLO_FRAME + " bytes (a HELLO with the longest token)");
                        return;
                    }
                    firstFrame = false;
                    frameLeft = length;
                    if (frameLeft == 0) finishedOne = true;
                    lengthBytes = 0;
                    length = 0;
                }
            }
        }
        boolean partial = lengthBytes > 0 || frameLeft > 0;
        if (!partial) {
            partialSince = 0;
        } else if (partialSince == 0 || finishedOne) {
            partialSince = System.nanoTime();
            if (partialCheck == null) schedulePartialCheck(ctx, partialFrameNanos);
        }
        ctx.fireChannelRead(msg);
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
        refuse(ctx, Closed.PARTIAL_FRAME_TIMEOUT, ErrorCode.TIMEOUT, "a frame was started " + TimeUnit.NANOSECONDS.toMillis(waited) + " ms ago and is still unfinished (limit "
                + TimeUnit.NANOSECONDS.toMillis(partialFrameNanos) + " ms): closing the connection");
    }

    private void refuse(ChannelHandlerContext ctx, Closed reason, ErrorCode code, String message) {
        refused = true;
        metrics.error(code);
        metrics.closed(reason);
        ctx.channel().config().setAutoRead(false);
        ctx.writeAndFlush(WireCodec.error(ctx.alloc(), 0, code, message)).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (partialCheck != null) partialCheck.cancel(false);
        ctx.fireChannelInactive();
    }
}
