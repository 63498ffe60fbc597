package dev.farmem.transport.rdma;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The two-sided messages of the RDMA transport (SEND/RECV); the data moves one-sided (RDMA READ and WRITE) and needs
 * none. Little-endian; every message starts {@code u32 magic "FMRD" | u16 type | u16 version}.
 *
 * <pre>
 * HELLO     client -> node  u16 token length | token (ASCII)
 * HELLO_OK  node -> client  i64 slab size | i32 count | count x (i32 slab | i32 rkey | i64 address | i32 writable | i32 0)
 * ERROR     node -> client  i32 code (ErrorCode.wire) | u16 length | message (UTF-8); the node then disconnects
 * PING      client -> node  i64 id
 * PONG      node -> client  i64 id
 * </pre>
 *
 * The node answers HELLO only after it verified the token and attached its slabs (fencing older epochs, zeroing
 * slabs a new claim touches), exactly as over TCP. Each granted slab comes with its own registration's {@code rkey}:
 * a takeover re-registers the slab, so an older runtime's rkey fails with a remote access error (FENCED).
 */
public final class RdmaProtocol {

    public static final int MAGIC = 0x44524d46; // "FMRD" little-endian
    public static final short VERSION = 1;
    public static final short HELLO = 1;
    public static final short HELLO_OK = 2;
    public static final short ERROR = 3;
    public static final short PING = 4;
    public static final short PONG = 5;

    public static final int HEADER = 8;
    /** One message buffer: room for a HELLO_OK of about 2700 slabs. */
    public static final int MESSAGE_BYTES = 64 << 10;
    public static final int GRANT_BYTES = 24;
    public static final int MAX_GRANTS = (MESSAGE_BYTES - HEADER - 12) / GRANT_BYTES;
    /** Receive buffers each side keeps posted, and send buffers for messages. */
    public static final int RECV_BUFFERS = 8;
    public static final int SEND_BUFFERS = 8;

    private RdmaProtocol() {}

    /** One granted slab: where it is in the node's memory and the key that opens it. */
    public record Grant(int slab, int rkey, long address, boolean writable) {}

    public static ByteBuffer header(ByteBuffer b, short type) {
        b.clear().order(ByteOrder.LITTLE_ENDIAN);
        return b.putInt(MAGIC).putShort(type).putShort(VERSION);
    }

    /** The type of a received message of {@code length} bytes at the start of {@code b}, after checking its header. */
    public static short type(ByteBuffer b, int length) {
        b.order(ByteOrder.LITTLE_ENDIAN);
        if (length < HEADER || b.getInt(0) != MAGIC) throw new TransportException(ErrorCode.BAD_FRAME, "not a farmem RDMA message (" + length + " bytes)");
        if (b.getShort(6) != VERSION) throw new TransportException(ErrorCode.UNSUPPORTED_VERSION, "RDMA message version " + b.getShort(6) + ", this side speaks " + VERSION);
        return b.getShort(4);
    }

    public static void hello(ByteBuffer b, String token) {
        byte[] t = token.getBytes(StandardCharsets.US_ASCII);
        if (t.length > 0xffff || t.length > MESSAGE_BYTES - HEADER - 2) throw new TransportException(ErrorCode.UNAUTHENTICATED, "token of " + t.length + " bytes is too long");
        header(b, HELLO).putShort((short) t.length).put(t);
    }

    public static String helloToken(ByteBuffer b, int length) {
        int n = Short.toUnsignedInt(b.getShort(HEADER));
        if (HEADER + 2 + n > length) throw new TransportException(ErrorCode.BAD_FRAME, "HELLO says " + n + " token bytes but carries " + (length - HEADER - 2));
        byte[] t = new byte[n];
        b.get(HEADER + 2, t);
        return new String(t, StandardCharsets.US_ASCII);
    }

    public static void helloOk(ByteBuffer b, long slabSize, Grant[] grants) {
        header(b, HELLO_OK).putLong(slabSize).putInt(grants.length);
        for (Grant g : grants) b.putInt(g.slab()).putInt(g.rkey()).putLong(g.address()).putInt(g.writable() ? 1 : 0).putInt(0);
    }

    public static long slabSize(ByteBuffer b) {
        return b.getLong(HEADER);
    }

    public static Grant[] grants(ByteBuffer b, int length) {
        int n = b.getInt(HEADER + 8);
        if (n < 0 || HEADER + 12 + (long) n * GRANT_BYTES > length) throw new TransportException(ErrorCode.BAD_FRAME, "HELLO_OK says " + n + " grants in " + length + " bytes");
        Grant[] out = new Grant[n];
        for (int i = 0, at = HEADER + 12; i < n; i++, at += GRANT_BYTES) {
            out[i] = new Grant(b.getInt(at), b.getInt(at + 4), b.getLong(at + 8), b.getInt(at + 16) != 0);
        }
        return out;
    }

    public static void error(ByteBuffer b, ErrorCode code, String message) {
        byte[] m = message.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(m.length, Math.min(0xffff, MESSAGE_BYTES - HEADER - 6));
        header(b, ERROR).putInt(code.wire()).putShort((short) n).put(m, 0, n);
    }

    public static TransportException error(ByteBuffer b, int length) {
        int n = Math.min(Short.toUnsignedInt(b.getShort(HEADER + 4)), Math.max(0, length - HEADER - 6));
        byte[] m = new byte[n];
        b.get(HEADER + 6, m);
        ErrorCode code = ErrorCode.fromWire(b.getInt(HEADER));
        return new TransportException(code, new String(m, StandardCharsets.UTF_8));
    }

    public static void ping(ByteBuffer b, short type, long id) {
        header(b, type).putLong(id);
    }

    public static long pingId(ByteBuffer b) {
        return b.getLong(HEADER);
    }
}
