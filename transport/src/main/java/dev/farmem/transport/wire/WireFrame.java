package dev.farmem.transport.wire;

import dev.farmem.transport.ErrorCode;
import io.netty.buffer.ByteBuf;

/**
 * A decoded frame, typed by its op: what {@link FrameDecoder} passes on, one object per frame (as
 * many as a generic frame would cost). Only {@link ReadOk} and {@link Writev} hold bytes of the
 * connection's input; whoever takes a frame calls {@link #release()} exactly once, which is a no-op
 * for the others.
 */
public sealed interface WireFrame permits WireFrame.Hello, WireFrame.HelloOk, WireFrame.Read, WireFrame.ReadOk, WireFrame.Writev,
        WireFrame.WritevOk, WireFrame.Ping, WireFrame.Pong, WireFrame.ErrorReply,
        WireFrame.Copy, WireFrame.CopyOk, BadFrame {

    long requestId();

    /** The op this frame carries on the wire ({@link Protocol}). */
    byte op();

    default void release() {}

    /** Client to node, first: the capability token. */
    record Hello(long requestId, String token) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.HELLO;
        }
    }

    /** The node accepted the token; the limits it announces hold for the whole connection. */
    record HelloOk(long requestId, int version, int maxFrameSize, long slabSize, int slabCount, int maxSegments) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.HELLO_OK;
        }
    }

    /** {@code length} bytes of {@code slab} from {@code offset}; length is already checked against the frame limit. */
    record Read(long requestId, int slab, int length, long offset) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.READ;
        }
    }

    /** The bytes a READ asked for: a retained slice of the connection's input. */
    record ReadOk(long requestId, ByteBuf data) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.READ_OK;
        }

        @Override
        public void release() {
            data.release();
        }
    }

    /**
     * Segments to write into {@code slab}, a flyweight over the frame's body (a retained slice): the
     * codec checked that there are 1..maxSegments of them, each of at least one byte, and that they
     * fill the body exactly, so walking them cannot run off it. Walk them without allocating:
     * <pre>{@code
     * for (int i = 0, s = w.first(); i < w.segmentCount(); i++, s = w.next(s)) use(w.offset(s), w.length(s), w.body(), w.dataIndex(s));
     * }</pre>
     */
    record Writev(long requestId, int slab, int segmentCount, ByteBuf body) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.WRITEV;
        }


        /** The position of the first segment. */
        public int first() {
            return body.readerIndex() + Protocol.WRITEV_BODY_HEADER;
        }

        /** The segment after the one at {@code segment}. */
        public int next(int segment) {
            return segment + Protocol.SEGMENT_HEADER + length(segment);
        }

        /** Where in the slab the segment at {@code segment} goes. */
        public long offset(int segment) {
            return body.getLongLE(segment);
        }

        public int length(int segment) {
            return body.getIntLE(segment + 8);
        }

        /** Where the segment's bytes start in {@link #body()}. */
        public int dataIndex(int segment) {
            return segment + Protocol.SEGMENT_HEADER;
        }

        @Override
        public void release() {
            body.release();
        }
    }

    record WritevOk(long requestId) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.WRITEV_OK;
        }
    }

    record Ping(long requestId) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.PING;
        }
    }

    record Pong(long requestId) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.PONG;
        }
    }

    /** The node refused the request (or, with request id 0 or the HELLO's, the connection). */
    record ErrorReply(long requestId, ErrorCode code, String message) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.ERROR;
        }
    }

    /** Operator to destination node: fill {@code slabCount} slabs from {@code slab} with the source's from {@code sourceSlab}. */
    record Copy(long requestId, int slab, int sourceSlab, int slabCount, String sourceEndpoint, String sourceToken) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.COPY;
        }
    }

    /** A copy's progress: {@code state} running, done or failed ({@code message} says why). */
    record CopyOk(long requestId, CopyState state, long bytesCopied, long bytesToGo, String message) implements WireFrame {
        @Override
        public byte op() {
            return Protocol.COPY_OK;
        }
    }

    /** Where a copy is, as COPY_OK carries it. */
    enum CopyState {
        RUNNING, DONE, FAILED;

        public int wire() {
            return ordinal();
        }

        static CopyState fromWire(int wire) {
            return wire >= 0 && wire < values().length ? values()[wire] : null;
        }
    }
}
