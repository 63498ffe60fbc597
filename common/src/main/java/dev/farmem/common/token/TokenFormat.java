package dev.farmem.common.token;

import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.InvalidKeyException;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The token text: {@code base64url(payload) "." base64url(HMAC-SHA256(key, payload))}, payload
 * little-endian: u8 format | u8 rights | i64 epoch | i64 expiresAtMillis | u16+UTF-8 node |
 * i64 incarnation | u16+UTF-8 claimUid | u16 rangeCount | rangeCount x (i32 first | i32 count).
 *
 * <p>Format 2 added the incarnation. Format 1 (without it) still decodes, as naming
 * {@link Incarnation#NONE}, so that an agent can refuse it as issued for no agent process it knows
 * (STALE_INCARNATION, "get a fresh binding") rather than as a forgery; it is never issued.
 */
public final class TokenFormat {

    static final int FORMAT = 2;
    /** The format before incarnations: decoded, never encoded. */
    static final int FORMAT_WITHOUT_INCARNATION = 1;
    private static final String ALGORITHM = "HmacSHA256";

    private TokenFormat() {}

    static byte[] encode(CapabilityToken t) {
        byte[] node = t.node().getBytes(StandardCharsets.UTF_8);
        byte[] uid = t.claimUid().getBytes(StandardCharsets.UTF_8);
        if (node.length > 0xFFFF || uid.length > 0xFFFF) throw new IllegalArgumentException("node name or claim uid too long");
        if (t.incarnation() == Incarnation.NONE) {
            throw new IllegalArgumentException("the token for memory node " + t.node() + " names no incarnation: every agent would refuse it;"
                    + " issue it for the incarnation the node reports");
        }
        ByteBuffer b = ByteBuffer.allocate(2 + 16 + 2 + node.length + 8 + 2 + uid.length + 2 + 8 * t.slabs().size()).order(ByteOrder.LITTLE_ENDIAN);
        b.put((byte) FORMAT).put((byte) t.rights().wire()).putLong(t.epoch()).putLong(t.expiresAtMillis());
        b.putShort((short) node.length).put(node).putLong(t.incarnation()).putShort((short) uid.length).put(uid);
        b.putShort((short) t.slabs().size());
        for (SlabRange r : t.slabs()) b.putInt(r.first()).putInt(r.count());
        return b.array();
    }

    /** Parses a payload whose MAC already verified; throws IllegalArgumentException when malformed. */
    public static CapabilityToken decode(byte[] payload) {
        ByteBuffer b = ByteBuffer.wrap(payload).order(ByteOrder.LITTLE_ENDIAN);
        try {
            int format = b.get() & 0xFF;
            if (format != FORMAT && format != FORMAT_WITHOUT_INCARNATION) {
                throw new IllegalArgumentException("token format " + format + " is not supported");
            }
            Rights rights = Rights.fromWire(b.get() & 0xFF);
            long epoch = b.getLong();
            long expires = b.getLong();
            String node = string(b);
            long incarnation = format == FORMAT ? b.getLong() : Incarnation.NONE;
            String uid = string(b);
            int ranges = b.getShort() & 0xFFFF;
            List<SlabRange> slabs = new ArrayList<>(ranges);
            for (int i = 0; i < ranges; i++) slabs.add(new SlabRange(b.getInt(), b.getInt()));
            if (b.hasRemaining()) throw new IllegalArgumentException("token has " + b.remaining() + " trailing bytes");
            return new CapabilityToken(node, incarnation, uid, epoch, slabs, rights, expires);
        } catch (BufferUnderflowException e) {
            throw new IllegalArgumentException("token payload is truncated");
        }
    }

    private static String string(ByteBuffer b) {
        int length = b.getShort() & 0xFFFF;
        byte[] bytes = new byte[length];
        b.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /** A thread's own MAC for the key; Mac instances are not thread-safe. */
    public static ThreadLocal<Mac> macs(byte[] key) {
        byte[] copy = key.clone();
        return ThreadLocal.withInitial(() -> {
            try {
                Mac mac = Mac.getInstance(ALGORITHM);
                mac.init(new SecretKeySpec(copy, ALGORITHM));
                return mac;
            } catch (NoSuchAlgorithmException | InvalidKeyException e) {
                throw new IllegalStateException("HMAC-SHA256 is not available in this JVM", e);
            }
        });
    }
}
