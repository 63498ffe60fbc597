package dev.farmem.agent.server;

import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.TokenFormat;
import dev.farmem.common.token.TokenKey;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.Protocol;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.Base64;
import javax.crypto.Mac;

/**
 * Verifies tokens on a memory node: the signature with the pool's key, the node name, the node's
 * incarnation, the expiry. Thread-safe. Fencing by epoch is the slab store's job, since it needs the
 * slab's state.
 *
 * <p>The incarnation check is what keeps a restarted agent from serving its new, zeroed region to a
 * client whose data the previous process held: such a token is refused with STALE_INCARNATION, which
 * clients take as the replica lost, never as data. Both transports verify through here.
 */
public final class TokenVerifier {

    private final ThreadLocal<Mac> macs;
    private final String node;
    private final long incarnation;

    /**
     * @param node this memory node's name; tokens for another node are refused
     * @param incarnation this agent process's {@link Incarnation}; tokens for another are refused
     */
    public TokenVerifier(byte[] key, String node, long incarnation) {
        if (incarnation == Incarnation.NONE) throw new IllegalArgumentException("an agent's incarnation cannot be 'none' (0): draw one with Incarnation.draw()");
        this.macs = TokenFormat.macs(TokenKey.check(key, "the token key"));
        this.node = node;
        this.incarnation = incarnation;
    }

    /**
     * Returns what the token grants, or throws a {@link TransportException} with
     * {@code UNAUTHENTICATED} (malformed, bad signature, other node), {@code STALE_INCARNATION} (issued
     * for an earlier agent process of this node, or a format-1 token that names none) or {@code TOKEN_EXPIRED}.
     */
    public CapabilityToken verify(String token, long nowMillis) {
        if (token == null || token.isEmpty()) throw unauthenticated("no token was presented");
        if (token.length() > Protocol.MAX_TOKEN_LENGTH) throw unauthenticated("token longer than " + Protocol.MAX_TOKEN_LENGTH + " characters");
        int dot = token.indexOf('.');
        if (dot <= 0 || dot != token.lastIndexOf('.')) throw unauthenticated("token is not of the form payload.signature");
        byte[] payload;
        byte[] signature;
        try {
            Base64.Decoder b64 = Base64.getUrlDecoder();
            payload = b64.decode(token.substring(0, dot));
            signature = b64.decode(token.substring(dot + 1));
        } catch (IllegalArgumentException e) {
            throw unauthenticated("token is not base64url text");
        }
        byte[] expected = macs.get().doFinal(payload);
        if (!MessageDigest.isEqual(expected, signature)) {
            throw unauthenticated("token signature does not verify with this pool's key: was it issued for another pool?");
        }
        CapabilityToken grant;
        try {
            grant = TokenFormat.decode(payload);
        } catch (IllegalArgumentException e) {
            throw unauthenticated("token is signed but malformed: " + e.getMessage());
        }
        if (!grant.node().equals(node)) {
            throw unauthenticated("token is for memory node '" + grant.node() + "', this is '" + node + "'");
        }
        if (grant.incarnation() != incarnation) {
            throw new TransportException(ErrorCode.STALE_INCARNATION, grant.incarnation() == Incarnation.NONE
                    ? "token names no incarnation of memory node '" + node + "' (a format-1 token, issued before incarnations):"
                            + " this agent (incarnation " + Incarnation.format(incarnation) + ") cannot tell whether it holds the claim's data;"
                            + " the runtime needs a binding issued for this incarnation"
                    : "token is for incarnation " + Incarnation.format(grant.incarnation()) + " of memory node '" + node + "', this agent is incarnation "
                            + Incarnation.format(incarnation) + ": the node restarted and its region holds none of the claim's data; treat this replica as lost");
        }
        if (nowMillis >= grant.expiresAtMillis()) {
            throw new TransportException(ErrorCode.TOKEN_EXPIRED, "token expired at " + Instant.ofEpochMilli(grant.expiresAtMillis())
                    + ": the runtime needs a fresh binding");
        }
        return grant;
    }

    public String node() {
        return node;
    }

    public long incarnation() {
        return incarnation;
    }

    private static TransportException unauthenticated(String why) {
        return new TransportException(ErrorCode.UNAUTHENTICATED, why);
    }
}
