package dev.farmem.transport.wire;

import dev.farmem.transport.ErrorCode;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Splits a connection's bytes into frames and has {@link WireCodec} decode each into a
 * {@link WireFrame}, checking the length field before anything is buffered beyond it: a frame
 * above the limit, or shorter than a header, becomes a {@link BadFrame} and the rest of the input
 * is dropped unread; so does a frame whose body the codec finds malformed. On the node side it
 * first checks the connection preamble (magic and version), and may hold the first frame (the
 * HELLO) to a smaller limit, so that a peer that has not authenticated cannot make the node buffer
 * a frame of the full size. A frame refused by its length alone carries {@link BadFrame#NO_OP}:
 * its op was never decoded.
 */
public final class FrameDecoder extends ByteToMessageDecoder {

    private final int maxFrameSize;
    /** 0 on the client side, which decodes replies. */
    private final int maxSegments;
    private final int maxFirstFrame;
    private final boolean node;
    private boolean expectPreamble;
    private boolean firstFrame = true;
    private boolean failed;

    private FrameDecoder(int maxFrameSize, int maxSegments, int maxFirstFrame, boolean node) {
        if (maxFrameSize < Protocol.MIN_MAX_FRAME_SIZE) {
            throw new IllegalArgumentException("max frame size " + maxFrameSize + " is below the minimum " + Protocol.MIN_MAX_FRAME_SIZE);
        }
        if (node && maxSegments < 1) throw new IllegalArgumentException("max segments per WRITEV must be at least 1, got " + maxSegments);
        this.maxFrameSize = maxFrameSize;
        this.maxSegments = maxSegments;
        this.maxFirstFrame = maxFirstFrame;
        this.node = node;
        this.expectPreamble = node;
    }

    /** The node side: a connection starts with the preamble, then carries requests. */
    public static FrameDecoder forNode(int maxFrameSize, int maxSegments) {
        return forNode(maxFrameSize, maxSegments, maxFrameSize);
    }

    /**
     * The node side, its first frame held to {@code maxFirstFrame} bytes (length field included):
     * a larger one is a FRAME_TOO_LARGE {@link BadFrame} as soon as its length field arrived.
     */
    public static FrameDecoder forNode(int maxFrameSize, int maxSegments, int maxFirstFrame) {
        return new FrameDecoder(maxFrameSize, maxSegments, maxFirstFrame, true);
    }

    /** The client side: replies, no preamble. */
    public static FrameDecoder forClient(int maxFrameSize) {
        return new FrameDecoder(maxFrameSize, 0, maxFrameSize, false);
    }

    /**
     * True while part of a frame (its length field included) has arrived and the rest has not. The
     * node closes a connection that stays so too long. On the event loop only.
     */
    public boolean holdsPartialFrame() {
        return !failed && !expectPreamble && internalBuffer().isReadable();
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (expectPreamble) {
            if (in.readableBytes() < Protocol.PREAMBLE_SIZE) return;
            for (int i = 0; i < Protocol.MAGIC.length; i++) {
                if (in.getByte(in.readerIndex() + i) != Protocol.MAGIC[i]) {
                    fail(in, out, new BadFrame(0, BadFrame.NO_OP, ErrorCode.BAD_FRAME,
                            "the connection does not start with the farmem magic 'FMEM': is this a farmem client?"));
                    return;
                }
            }
            int version = in.getUnsignedShortLE(in.readerIndex() + 4);
            if (version != Protocol.VERSION) {
                fail(in, out, new BadFrame(0, BadFrame.NO_OP, ErrorCode.UNSUPPORTED_VERSION, "the client speaks protocol version " + version
                        + ", this node speaks version " + Protocol.VERSION + ": use a client and agent of the same release"));
                return;
            }
            in.skipBytes(Protocol.PREAMBLE_SIZE);
            expectPreamble = false;
        }
        while (in.readableBytes() >= 4) {
            int start = in.readerIndex();
            long length = in.getUnsignedIntLE(start);
            if (length < Protocol.HEADER_AFTER_LENGTH) {
                fail(in, out, new BadFrame(0, BadFrame.NO_OP, ErrorCode.BAD_FRAME, "frame length " + length + " is shorter than a frame header"));
                return;
            }
            long id = in.readableBytes() >= Protocol.HEADER_SIZE ? in.getLongLE(start + 8) : 0;
            if (firstFrame && maxFirstFrame < maxFrameSize && length + 4 > maxFirstFrame) {
                fail(in, out, new BadFrame(id, BadFrame.NO_OP, ErrorCode.FRAME_TOO_LARGE, "first frame of " + (length + 4)
                        + " bytes: before HELLO a frame may be at most " + maxFirstFrame + " bytes (a HELLO with the longest token)"));
                return;
            }
            if (length + 4 > maxFrameSize) {
                fail(in, out, new BadFrame(id, BadFrame.NO_OP, ErrorCode.FRAME_TOO_LARGE, "frame of " + (length + 4)
                        + " bytes is above the limit of " + maxFrameSize + " bytes"));
                return;
            }
            firstFrame = false;
            if (in.readableBytes() < length + 4) return;
            byte op = in.getByte(start + 4);
            long requestId = in.getLongLE(start + 8);
            int body = (int) length - Protocol.HEADER_AFTER_LENGTH;
            WireFrame frame = node
                    ? WireCodec.decodeRequest(op, requestId, in, start + Protocol.HEADER_SIZE, body, maxFrameSize, maxSegments)
                    : WireCodec.decodeReply(op, requestId, in, start + Protocol.HEADER_SIZE, body);
            if (frame instanceof BadFrame bad) {
                fail(in, out, bad);
                return;
            }
            in.skipBytes((int) length + 4);
            out.add(frame);
        }
    }

    private void fail(ByteBuf in, List<Object> out, BadFrame bad) {
        failed = true;
        in.skipBytes(in.readableBytes());
        out.add(bad);
    }
}
