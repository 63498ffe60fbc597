package dev.farmem.transport.wire;

import dev.farmem.transport.ErrorCode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;

/** Builds frames into buffers. The one place that writes headers, so both sides agree. */
public final class FrameWriter {

    private FrameWriter() {}

    /** Writes a header for a body of {@code bodyLength} bytes that the caller writes next. */
    public static ByteBuf header(ByteBuf out, byte op, long requestId, int bodyLength) {
        out.writeIntLE(Protocol.HEADER_AFTER_LENGTH + bodyLength);
        out.writeByte(op);
        out.writeByte(0);
        out.writeShortLE(0);
        out.writeLongLE(requestId);
        return out;
    }

    public static ByteBuf preamble(ByteBufAllocator alloc) {
        ByteBuf out = alloc.buffer(Protocol.PREAMBLE_SIZE);
        out.writeBytes(Protocol.MAGIC);
        out.writeShortLE(Protocol.VERSION);
        out.writeShortLE(0);
        return out;
    }

    public static ByteBuf hello(ByteBufAllocator alloc, long requestId, String token) {
        byte[] bytes = token.getBytes(StandardCharsets.US_ASCII);
        if (bytes.length > Protocol.MAX_TOKEN_LENGTH) {
            throw new IllegalArgumentException("token of " + bytes.length + " bytes is longer than " + Protocol.MAX_TOKEN_LENGTH);
        }
        ByteBuf out = alloc.buffer(Protocol.HEADER_SIZE + 2 + bytes.length);
        header(out, Protocol.HELLO, requestId, 2 + bytes.length);
        out.writeShortLE(bytes.length);
        out.writeBytes(bytes);
        return out;
    }

    public static ByteBuf helloOk(ByteBufAllocator alloc, long requestId, int maxFrameSize, long slabSize, int slabCount, int maxSegments) {
        ByteBuf out = alloc.buffer(Protocol.HEADER_SIZE + Protocol.HELLO_OK_BODY);
        header(out, Protocol.HELLO_OK, requestId, Protocol.HELLO_OK_BODY);
        out.writeShortLE(Protocol.VERSION);
        out.writeShortLE(0);
        out.writeIntLE(maxFrameSize);
        out.writeLongLE(slabSize);
        out.writeIntLE(slabCount);
        out.writeIntLE(maxSegments);
        return out;
    }

    public static ByteBuf read(ByteBufAllocator alloc, long requestId, int slab, long offset, int length) {
        ByteBuf out = alloc.directBuffer(Protocol.HEADER_SIZE + Protocol.READ_BODY);
        header(out, Protocol.READ, requestId, Protocol.READ_BODY);
        out.writeIntLE(slab);
        out.writeIntLE(length);
        out.writeLongLE(offset);
        return out;
    }

    /** A header-only frame: PING, PONG, WRITEV_OK. */
    public static ByteBuf empty(ByteBufAllocator alloc, byte op, long requestId) {
        return header(alloc.directBuffer(Protocol.HEADER_SIZE), op, requestId, 0);
    }

    public static ByteBuf error(ByteBufAllocator alloc, long requestId, ErrorCode code, String message) {
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        int length = Math.min(text.length, Protocol.MAX_ERROR_MESSAGE);
        ByteBuf out = alloc.buffer(Protocol.HEADER_SIZE + 4 + length);
        header(out, Protocol.ERROR, requestId, 4 + length);
        out.writeShortLE(code.wire());
        out.writeShortLE(length);
        out.writeBytes(text, 0, length);
        return out;
    }

    /** Reads the code and message of an ERROR body, tolerating a message cut short. */
    public static ErrorFrame parseError(ByteBuf body) {
        if (body.readableBytes() < 4) return new ErrorFrame(ErrorCode.BAD_FRAME, "error frame too short to hold a code");
        ErrorCode code = ErrorCode.fromWire(body.getUnsignedShortLE(body.readerIndex()));
        int length = Math.min(body.getUnsignedShortLE(body.readerIndex() + 2), body.readableBytes() - 4);
        return new ErrorFrame(code, body.toString(body.readerIndex() + 4, length, StandardCharsets.UTF_8));
    }

    public record ErrorFrame(ErrorCode code, String message) {}
}
