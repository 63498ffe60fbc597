package dev.farmem.agent.server;

import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.TokenFormat;
import dev.farmem.common.token.TokenKey;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.Protocol;
import java.security.MessageDigest;
import java.util.Base64;
import javax.crypto.Mac;

/**
 * Verifies tokens on a memory node: the signature with the pool's key, the node name, the expiry.
 * Thread-safe. Fencing by epoch is the slab store's job, since it needs the slab's state.
 */
public final class TokenVerifier {

    private final ThreadLocal<Mac> macs;
    private final String node;

    /** @param node this memory node's name; tokens for another node are refused */
    public TokenVerifier(byte[] key, String node) {
        this.macs = TokenFormat.macs(TokenKey.check(key, "the token key"));
        this.node = node;
    }

    /**
     * Returns what the token grants, or throws a {@link TransportException} with
     * {@code UNAUTHENTICATED} (malformed, bad signature, other node) or {@code TOKEN_EXPIRED}.
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
        if (nowMillis >= grant.expiresAtMillis()) {
            throw new TransportException(ErrorCode.TOKEN_EXPIRED, "token expired at " + java.time.Instant.ofEpochMilli(grant.expiresAtMillis())
                    + ": the runtime needs a fresh binding");
        }
        return grant;
    }

    public String node() {
        return node;
    }

    private static TransportException unauthenticated(String why) {
        return new TransportException(ErrorCode.UNAUTHENTICATED, why);
    }
}
