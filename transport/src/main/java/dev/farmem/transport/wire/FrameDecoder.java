package dev.farmem.transport.wire;

import dev.farmem.transport.ErrorCode;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Splits a connection's bytes into {@link Frame}s, checking the length field before anything is
 * buffered beyond it: a frame above the limit, or shorter than a header, becomes a
 * {@link BadFrame} and the rest of the input is dropped unread. On the node side it first checks
 * the connection preamble (magic and version).
 */
public final class FrameDecoder extends ByteToMessageDecoder {

    private final int maxFrameSize;
    private boolean expectPreamble;
    private boolean failed;

    /**
     * @param maxFrameSize  the largest frame accepted, length field included
     * @param expectPreamble true on the node side, where a connection starts with magic and version
     */
    public FrameDecoder(int maxFrameSize, boolean expectPreamble) {
        if (maxFrameSize < Protocol.MIN_MAX_FRAME_SIZE) {
            throw new IllegalArgumentException("max frame size " + maxFrameSize + " is below the minimum " + Protocol.MIN_MAX_FRAME_SIZE);
        }
        this.maxFrameSize = maxFrameSize;
        this.expectPreamble = expectPreamble;
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
                    fail(in, out, ErrorCode.BAD_FRAME, 0, "the connection does not start with the farmem magic 'FMEM': is this a farmem client?");
                    return;
                }
            }
            int version = in.getUnsignedShortLE(in.readerIndex() + 4);
            if (version != Protocol.VERSION) {
                fail(in, out, ErrorCode.UNSUPPORTED_VERSION, 0, "the client speaks protocol version " + version
                        + ", this node speaks version " + Protocol.VERSION + ": use a client and agent of the same release");
                return;
            }
            in.skipBytes(Protocol.PREAMBLE_SIZE);
            expectPreamble = false;
        }
        while (in.readableBytes() >= 4) {
            int start = in.readerIndex();
            long length = in.getUnsignedIntLE(start);
            if (length < Protocol.HEADER_AFTER_LENGTH) {
                fail(in, out, ErrorCode.BAD_FRAME, 0, "frame length " + length + " is shorter than a frame header");
                return;
            }
            if (length + 4 > maxFrameSize) {
                long id = in.readableBytes() >= Protocol.HEADER_SIZE ? in.getLongLE(start + 8) : 0;
                fail(in, out, ErrorCode.FRAME_TOO_LARGE, id, "frame of " + (length + 4) + " bytes is above the limit of "
                        + maxFrameSize + " bytes");
                return;
            }
            if (in.readableBytes() < length + 4) return;
            byte op = in.getByte(start + 4);
            long requestId = in.getLongLE(start + 8);
            in.skipBytes(Protocol.HEADER_SIZE);
            out.add(new Frame(op, requestId, in.readRetainedSlice((int) length - Protocol.HEADER_AFTER_LENGTH)));
        }
    }

    private void fail(ByteBuf in, List<Object> out, ErrorCode code, long requestId, String message) {
        failed = true;
        in.skipBytes(in.readableBytes());
        out.add(new BadFrame(code, requestId, message));
    }
}
