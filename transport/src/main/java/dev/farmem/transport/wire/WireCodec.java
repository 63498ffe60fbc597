package dev.farmem.transport.wire;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.wire.WireFrame.Copy;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.CopyState;
import dev.farmem.transport.wire.WireFrame.ErrorReply;
import dev.farmem.transport.wire.WireFrame.Hello;
import dev.farmem.transport.wire.WireFrame.HelloOk;
import dev.farmem.transport.wire.WireFrame.Ping;
import dev.farmem.transport.wire.WireFrame.Pong;
import dev.farmem.transport.wire.WireFrame.Read;
import dev.farmem.transport.wire.WireFrame.ReadOk;
import dev.farmem.transport.wire.WireFrame.Writev;
import dev.farmem.transport.wire.WireFrame.WritevOk;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * The one owner of the wire format ({@link Protocol}): encodes every frame, request and reply, and
 * decodes every frame body into a {@link WireFrame}. Both sides, and any test that speaks the
 * protocol, go through here, so a field cannot be read at one offset and written at another.
 *
 * <p>Decoding never throws on input: anything malformed (a body too short or too long for its op,
 * lengths that disagree, an op the receiving side does not take) becomes a {@link BadFrame} whose
 * message says what was wrong. Structural checks live here; whether a well-formed request is
 * allowed (token, slab, range) is the node's business.
 */
public final class WireCodec {

    private WireCodec() {}

    // ---------------------------------------------------------------- encoding

    /** Writes a header for a body of {@code bodyLength} bytes that the caller writes next. Public for tests that build broken frames. */
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

    /** @throws IllegalArgumentException when the token is longer than {@link Protocol#MAX_TOKEN_LENGTH} */
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

    public static ByteBuf helloOk(ByteBufAllocator alloc, HelloOk ok) {
        return helloOk(alloc, ok.requestId(), ok.maxFrameSize(), ok.slabSize(), ok.slabCount(), ok.maxSegments());
    }

    public static ByteBuf read(ByteBufAllocator alloc, long requestId, int slab, long offset, int length) {
        ByteBuf out = alloc.directBuffer(Protocol.HEADER_SIZE + Protocol.READ_BODY);
        header(out, Protocol.READ, requestId, Protocol.READ_BODY);
        out.writeIntLE(slab);
        out.writeIntLE(length);
        out.writeLongLE(offset);
        return out;
    }

    /** A READ_OK carrying {@code length} bytes of {@code src} from {@code index}, copied now. */
    public static ByteBuf readOk(ByteBufAllocator alloc, long requestId, ByteBuf src, int index, int length) {
        ByteBuf out = alloc.directBuffer(Protocol.HEADER_SIZE + length);
        header(out, Protocol.READ_OK, requestId, length);
        out.writeBytes(src, index, length);
        return out;
    }

    /** The whole frame a WRITEV of {@code batch} takes, header included (a long: a batch can be too large for any frame). */
    public static long writevFrameSize(WriteBatch batch) {
        return Protocol.HEADER_SIZE + Protocol.WRITEV_BODY_HEADER + (long) batch.size() * Protocol.SEGMENT_HEADER + batch.totalBytes();
    }

    /**
     * A WRITEV of every segment of {@code batch}, its bytes copied now: the caller may reuse its
     * buffers as soon as this returns. The caller checked {@link #writevFrameSize} against the frame limit.
     */
    public static ByteBuf writev(ByteBufAllocator alloc, long requestId, int slab, WriteBatch batch) {
        int segments = batch.size();
        int frameSize = Math.toIntExact(writevFrameSize(batch));
        ByteBuf out = alloc.directBuffer(frameSize);
        header(out, Protocol.WRITEV, requestId, frameSize - Protocol.HEADER_SIZE);
        out.writeIntLE(slab);
        out.writeIntLE(segments);
        for (int i = 0; i < segments; i++) {
            int length = batch.length(i);
            out.writeLongLE(batch.remoteOffset(i));
            out.writeIntLE(length);
            ByteBuffer src = batch.source(i).duplicate();
            int from = batch.sourceIndex(i);
            src.limit(from + length).position(from);
            out.writeBytes(src);
        }
        return out;
    }

    public static ByteBuf writevOk(ByteBufAllocator alloc, long requestId) {
        return empty(alloc, Protocol.WRITEV_OK, requestId);
    }

    public static ByteBuf ping(ByteBufAllocator alloc, long requestId) {
        return empty(alloc, Protocol.PING, requestId);
    }

    public static ByteBuf pong(ByteBufAllocator alloc, long requestId) {
        return empty(alloc, Protocol.PONG, requestId);
    }

    private static ByteBuf empty(ByteBufAllocator alloc, byte op, long requestId) {
        return header(alloc.directBuffer(Protocol.HEADER_SIZE), op, requestId, 0);
    }

    /** A COPY request (see {@link Protocol}). */
    public static ByteBuf copy(ByteBufAllocator alloc, long requestId, int slab, int sourceSlab, int slabCount, String sourceEndpoint, String sourceToken) {
        byte[] endpoint = sourceEndpoint.getBytes(StandardCharsets.US_ASCII);
        byte[] token = sourceToken.getBytes(StandardCharsets.US_ASCII);
        if (endpoint.length > Protocol.MAX_ENDPOINT_LENGTH || token.length > Protocol.MAX_TOKEN_LENGTH) {
            throw new IllegalArgumentException("COPY source endpoint (" + endpoint.length + " bytes) or token (" + token.length + " bytes) too long");
        }
        int body = Protocol.COPY_BODY_HEADER + 2 + endpoint.length + 2 + token.length;
        ByteBuf out = alloc.buffer(Protocol.HEADER_SIZE + body);
        header(out, Protocol.COPY, requestId, body);
        out.writeIntLE(slab).writeIntLE(sourceSlab).writeIntLE(slabCount);
        out.writeShortLE(endpoint.length).writeBytes(endpoint);
        out.writeShortLE(token.length).writeBytes(token);
        return out;
    }

    /** A COPY_OK with the copy's progress; the message is cut at {@link Protocol#MAX_ERROR_MESSAGE} bytes. */
    public static ByteBuf copyOk(ByteBufAllocator alloc, long requestId, CopyState state, long bytesCopied, long bytesToGo, String message) {
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        int length = Math.min(text.length, Protocol.MAX_ERROR_MESSAGE);
        ByteBuf out = alloc.buffer(Protocol.HEADER_SIZE + 20 + length);
        header(out, Protocol.COPY_OK, requestId, 20 + length);
        out.writeByte(state.wire()).writeByte(0).writeLongLE(bytesCopied).writeLongLE(bytesToGo);
        out.writeShortLE(length).writeBytes(text, 0, length);
        return out;
    }

    /** An ERROR; a message longer than {@link Protocol#MAX_ERROR_MESSAGE} bytes of UTF-8 is cut there. */
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

    // ---------------------------------------------------------------- decoding

    /**
     * Decodes the body of a frame a node received: HELLO, READ, WRITEV or PING. The body is
     * {@code length} bytes of {@code in} from {@code index}; it is not consumed, and a
     * {@link Writev} takes a retained slice of it.
     *
     * @param maxFrameSize the node's frame limit, which bounds a READ's length
     * @param maxSegments  the most segments a WRITEV may carry
     */
    public static WireFrame decodeRequest(byte op, long requestId, ByteBuf in, int index, int length, int maxFrameSize, int maxSegments) {
        return switch (op) {
            case Protocol.HELLO -> hello(requestId, in, index, length);
            case Protocol.READ -> read(requestId, in, index, length, maxFrameSize);
            case Protocol.WRITEV -> writev(requestId, in, index, length, maxSegments);
            case Protocol.PING -> length == 0 ? new Ping(requestId) : bad(requestId, op, "PING with a body of " + length + " bytes");
            case Protocol.COPY -> copy(requestId, in, index, length);
            default -> bad(requestId, op, "unknown op " + Protocol.opName(op) + (isReply(op) ? ": a node takes requests, not replies" : ""));
        };
    }

    /**
     * Decodes the body of a frame a client received: HELLO_OK, READ_OK, WRITEV_OK, PONG or ERROR.
     * A {@link ReadOk} takes a retained slice of the body; whether it has the length its READ asked
     * for is the caller's check, since only the caller knows the request.
     */
    public static WireFrame decodeReply(byte op, long requestId, ByteBuf in, int index, int length) {
        return switch (op) {
            case Protocol.HELLO_OK -> helloOk(requestId, in, index, length);
            case Protocol.READ_OK -> new ReadOk(requestId, in.retainedSlice(index, length));
            case Protocol.WRITEV_OK -> length == 0 ? new WritevOk(requestId) : bad(requestId, op, "WRITEV_OK with a body of " + length + " bytes");
            case Protocol.PONG -> length == 0 ? new Pong(requestId) : bad(requestId, op, "PONG with a body of " + length + " bytes");
            case Protocol.ERROR -> errorReply(requestId, in, index, length);
            case Protocol.COPY_OK -> copyOk(requestId, in, index, length);
            default -> bad(requestId, op, "unknown op " + Protocol.opName(op) + (isReply(op) ? "" : ": a client takes replies, not requests"));
        };
    }

    private static boolean isReply(byte op) {
        return (op & Protocol.RESPONSE) != 0;
    }

    private static WireFrame hello(long id, ByteBuf in, int at, int size) {
        if (size < 2 || in.getUnsignedShortLE(at) != size - 2) {
            return bad(id, Protocol.HELLO, "HELLO token length does not match the frame");
        }
        if (size - 2 > Protocol.MAX_TOKEN_LENGTH) {
            return bad(id, Protocol.HELLO, "HELLO token of " + (size - 2) + " bytes is longer than " + Protocol.MAX_TOKEN_LENGTH);
        }
        return new Hello(id, in.toString(at + 2, size - 2, StandardCharsets.US_ASCII));
    }

    private static WireFrame helloOk(long id, ByteBuf in, int at, int size) {
        if (size != Protocol.HELLO_OK_BODY) {
            return bad(id, Protocol.HELLO_OK, "HELLO_OK body of " + size + " bytes, expected " + Protocol.HELLO_OK_BODY);
        }
        int version = in.getUnsignedShortLE(at);
        int maxFrameSize = in.getIntLE(at + 4);
        long slabSize = in.getLongLE(at + 8);
        int slabCount = in.getIntLE(at + 16);
        int maxSegments = in.getIntLE(at + 20);
        if (maxFrameSize < Protocol.MIN_MAX_FRAME_SIZE || maxSegments < 1 || slabSize < 1 || slabCount < 0) {
            return bad(id, Protocol.HELLO_OK, "HELLO_OK announces impossible limits: max frame " + maxFrameSize + " (at least "
                    + Protocol.MIN_MAX_FRAME_SIZE + "), max segments " + maxSegments + ", slab size " + slabSize + ", slab count " + slabCount);
        }
        return new HelloOk(id, version, maxFrameSize, slabSize, slabCount, maxSegments);
    }

    private static WireFrame read(long id, ByteBuf in, int at, int size, int maxFrameSize) {
        if (size != Protocol.READ_BODY) {
            return bad(id, Protocol.READ, "READ body of " + size + " bytes, expected " + Protocol.READ_BODY);
        }
        int slab = in.getIntLE(at);
        int length = in.getIntLE(at + 4);
        long offset = in.getLongLE(at + 8);
        int max = Protocol.maxReadLength(maxFrameSize);
        if (length <= 0 || length > max) {
            return new BadFrame(id, Protocol.READ, ErrorCode.FRAME_TOO_LARGE, "READ length " + length + " is not in 1.." + max);
        }
        return new Read(id, slab, length, offset);
    }

    private static WireFrame writev(long id, ByteBuf in, int at, int size, int maxSegments) {
        if (size < Protocol.WRITEV_BODY_HEADER) {
            return bad(id, Protocol.WRITEV, "WRITEV body of " + size + " bytes is shorter than its header");
        }
        int slab = in.getIntLE(at);
        int count = in.getIntLE(at + 4);
        if (count < 1 || count > maxSegments) {
            return bad(id, Protocol.WRITEV, "WRITEV segment count " + count + " is not in 1.." + maxSegments);
        }
        if ((long) count * Protocol.SEGMENT_HEADER > size - Protocol.WRITEV_BODY_HEADER) {
            return bad(id, Protocol.WRITEV, "WRITEV claims " + count + " segments but the frame cannot hold their headers");
        }
        int pos = Protocol.WRITEV_BODY_HEADER;
        for (int i = 0; i < count; i++) {
            if (size - pos < Protocol.SEGMENT_HEADER) {
                return bad(id, Protocol.WRITEV, "WRITEV segment " + i + " header is truncated");
            }
            int length = in.getIntLE(at + pos + 8);
            if (length <= 0 || length > size - pos - Protocol.SEGMENT_HEADER) {
                return bad(id, Protocol.WRITEV, "WRITEV segment " + i + " length " + length + " does not fit the frame");
            }
            pos += Protocol.SEGMENT_HEADER + length;
        }
        if (pos != size) {
            return bad(id, Protocol.WRITEV, "WRITEV has " + (size - pos) + " bytes after its last segment");
        }
        return new Writev(id, slab, count, in.retainedSlice(at, size));
    }

    private static WireFrame copy(long id, ByteBuf in, int at, int size) {
        if (size < Protocol.COPY_BODY_HEADER + 4) return bad(id, Protocol.COPY, "COPY body of " + size + " bytes is shorter than its header");
        int slab = in.getIntLE(at);
        int sourceSlab = in.getIntLE(at + 4);
        int count = in.getIntLE(at + 8);
        if (slab < 0 || sourceSlab < 0 || count < 1) {
            return bad(id, Protocol.COPY, "COPY of " + count + " slabs from " + sourceSlab + " to " + slab + ": slabs must be >= 0 and the count >= 1");
        }
        int pos = Protocol.COPY_BODY_HEADER;
        int endpointLength = in.getUnsignedShortLE(at + pos);
        if (endpointLength < 1 || endpointLength > Protocol.MAX_ENDPOINT_LENGTH || size - pos - 2 - endpointLength < 2) {
            return bad(id, Protocol.COPY, "COPY source endpoint length " + endpointLength + " does not fit the frame");
        }
        String endpoint = in.toString(at + pos + 2, endpointLength, StandardCharsets.US_ASCII);
        pos += 2 + endpointLength;
        int tokenLength = in.getUnsignedShortLE(at + pos);
        if (tokenLength < 1 || tokenLength > Protocol.MAX_TOKEN_LENGTH || tokenLength != size - pos - 2) {
            return bad(id, Protocol.COPY, "COPY source token length " + tokenLength + " does not match the frame");
        }
        return new Copy(id, slab, sourceSlab, count, endpoint, in.toString(at + pos + 2, tokenLength, StandardCharsets.US_ASCII));
    }

    private static WireFrame copyOk(long id, ByteBuf in, int at, int size) {
        if (size < 20) return bad(id, Protocol.COPY_OK, "COPY_OK body of " + size + " bytes is shorter than its header");
        CopyState state = CopyState.fromWire(in.getUnsignedByte(at));
        if (state == null) return bad(id, Protocol.COPY_OK, "COPY_OK state " + in.getUnsignedByte(at) + " is not 0, 1 or 2");
        long copied = in.getLongLE(at + 2);
        long toGo = in.getLongLE(at + 10);
        int length = in.getUnsignedShortLE(at + 18);
        if (length != size - 20) return bad(id, Protocol.COPY_OK, "COPY_OK message length " + length + " does not match the frame");
        return new CopyOk(id, state, copied, toGo, in.toString(at + 20, length, StandardCharsets.UTF_8));
    }

    private static WireFrame errorReply(long id, ByteBuf in, int at, int size) {
        if (size < 4) return bad(id, Protocol.ERROR, "ERROR body of " + size + " bytes is too short to hold a code and a length");
        ErrorCode code = ErrorCode.fromWire(in.getUnsignedShortLE(at));
        int length = in.getUnsignedShortLE(at + 2);
        if (length != size - 4) {
            return bad(id, Protocol.ERROR, "ERROR message length " + length + " does not match the frame's " + (size - 4) + " bytes");
        }
        return new ErrorReply(id, code, in.toString(at + 4, length, StandardCharsets.UTF_8));
    }

    private static BadFrame bad(long id, byte op, String message) {
        return new BadFrame(id, op, ErrorCode.BAD_FRAME, message);
    }
}
