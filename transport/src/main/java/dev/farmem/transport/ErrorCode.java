package dev.farmem.transport;

/** Why a request or a connection failed. The numeric code travels in error frames. */
public enum ErrorCode {
    /** The frame could not be parsed: bad magic, unknown op, truncated, inconsistent lengths. */
    BAD_FRAME(1),
    /** A frame longer than the connection's maximum frame size. */
    FRAME_TOO_LARGE(2),
    /** The peer speaks a protocol version this side does not. */
    UNSUPPORTED_VERSION(3),
    /** No token, a token whose signature does not verify, or a request before HELLO. */
    UNAUTHENTICATED(4),
    /** The token verifies but is past its expiry. */
    TOKEN_EXPIRED(5),
    /** The token does not grant this slab, or grants it read-only and this is a write. */
    FORBIDDEN(6),
    /** The token's attach epoch is older than the slab's current epoch: another runtime attached since. */
    FENCED(7),
    /** Offset and length fall outside the slab, or the slab is not in the node's region. */
    OUT_OF_RANGE(8),
    /** The connection closed or failed before the response came. */
    CONNECTION_CLOSED(9),
    /** No response within the request timeout. */
    TIMEOUT(10),
    /** The node failed for a reason of its own. */
    INTERNAL(11),
    /**
     * The token was issued for an earlier agent process of this memory node (or names none): the node
     * restarted, its region is new and holds none of the claim's data. The replica is lost, never to be read.
     */
    STALE_INCARNATION(12);

    private final int wire;

    ErrorCode(int wire) {
        this.wire = wire;
    }

    public int wire() {
        return wire;
    }

    public static ErrorCode fromWire(int wire) {
        for (ErrorCode c : values()) if (c.wire == wire) return c;
        return INTERNAL;
    }
}
