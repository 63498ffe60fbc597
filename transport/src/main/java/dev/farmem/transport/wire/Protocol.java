package dev.farmem.transport.wire;

import java.nio.charset.StandardCharsets;

/**
 * The farmem wire protocol, version 1. Every integer is little-endian.
 *
 * <pre>
 * connection start (client to node, 8 bytes): "FMEM" | u16 version | u16 0
 * frame:   i32 length (bytes after this field) | u8 op | u8 0 | u16 0 | i64 requestId | body
 *
 * HELLO      0x01  u16 tokenLength | token (ASCII)
 * HELLO_OK   0x81  u16 version | u16 0 | i32 maxFrameSize | i64 slabSize | i32 slabCount | i32 maxSegments
 * READ       0x02  i32 slab | i32 length | i64 offset
 * READ_OK    0x82  the bytes read (exactly length)
 * WRITEV     0x03  i32 slab | i32 segmentCount | segmentCount x (i64 offset | i32 length | bytes)
 * WRITEV_OK  0x83  (empty)
 * PING       0x04  (empty)
 * PONG       0x84  (empty)
 * COPY       0x05  i32 slab | i32 sourceSlab | i32 slabCount | u16 endpointLength | source endpoint (ASCII host:port)
 *                  | u16 tokenLength | source token (ASCII)
 * COPY_OK    0x85  u8 state (0 running, 1 done, 2 failed) | u8 0 | i64 bytesCopied | i64 bytesToGo | u16 messageLength | message (UTF-8)
 * ERROR      0xFF  u16 ErrorCode.wire | u16 messageLength | message (UTF-8)
 * </pre>
 *
 * COPY (re-replication) is the operator's, on a connection whose HELLO presented a COPY token for
 * the slabs {@code slab .. slab + slabCount - 1} of this node: fill them from the same number of slabs at
 * {@code sourceSlab} of the source agent, which this node reaches with the source token. It starts
 * the copy (or finds it running, or restarts it after a failure) and answers at once with its
 * progress; the operator sends it again to follow the copy until the state is done.
 *
 * A response carries the request's id. Requests may be pipelined; the node answers each
 * connection's requests in order, but a client must not rely on that.
 */
public final class Protocol {

    public static final int VERSION = 1;
    /** "FMEM" as it appears on the wire. */
    public static final byte[] MAGIC = "FMEM".getBytes(StandardCharsets.US_ASCII);
    public static final int PREAMBLE_SIZE = 8;
    /** Length field, op, two pad fields, request id. */
    public static final int HEADER_SIZE = 16;
    /** What the length field counts of the header: everything after itself. */
    public static final int HEADER_AFTER_LENGTH = HEADER_SIZE - 4;

    public static final int DEFAULT_MAX_FRAME_SIZE = 1 << 20;
    public static final int MIN_MAX_FRAME_SIZE = 4096 + HEADER_SIZE;
    public static final int DEFAULT_MAX_SEGMENTS = 1024;
    public static final int MAX_TOKEN_LENGTH = 4096;
    public static final int MAX_ERROR_MESSAGE = 1024;

    public static final byte HELLO = 0x01;
    public static final byte READ = 0x02;
    public static final byte WRITEV = 0x03;
    public static final byte PING = 0x04;
    public static final byte COPY = 0x05;
    public static final byte RESPONSE = (byte) 0x80;
    public static final byte HELLO_OK = (byte) (HELLO | RESPONSE);
    public static final byte READ_OK = (byte) (READ | RESPONSE);
    public static final byte WRITEV_OK = (byte) (WRITEV | RESPONSE);
    public static final byte PONG = (byte) (PING | RESPONSE);
    public static final byte COPY_OK = (byte) (COPY | RESPONSE);
    public static final byte ERROR = (byte) 0xFF;

    public static final int READ_BODY = 16;
    public static final int WRITEV_BODY_HEADER = 8;
    public static final int SEGMENT_HEADER = 12;
    public static final int HELLO_OK_BODY = 24;
    /** COPY's fixed part: the slabs, before the endpoint and the token. */
    public static final int COPY_BODY_HEADER = 12;
    public static final int MAX_ENDPOINT_LENGTH = 512;

    private Protocol() {}

    /** The largest READ a node with this frame limit can answer in one frame. */
    public static int maxReadLength(int maxFrameSize) {
        return maxFrameSize - HEADER_SIZE;
    }

    public static String opName(byte op) {
        return switch (op) {
            case HELLO -> "HELLO";
            case READ -> "READ";
            case WRITEV -> "WRITEV";
            case PING -> "PING";
            case COPY -> "COPY";
            case COPY_OK -> "COPY_OK";
            case HELLO_OK -> "HELLO_OK";
            case READ_OK -> "READ_OK";
            case WRITEV_OK -> "WRITEV_OK";
            case PONG -> "PONG";
            case ERROR -> "ERROR";
            default -> String.format("0x%02x", op & 0xFF);
        };
    }
}
