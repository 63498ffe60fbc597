package dev.farmem.common.token;

import java.util.Base64;
import java.util.List;
import javax.crypto.Mac;

/**
 * Issues capability tokens with the pool's key. Used by the operator (one token per claim and
 * memory node, written into the binding) and by an embedded pool. Thread-safe.
 *
 * <pre>{@code
 * TokenIssuer issuer = new TokenIssuer(TokenKey.read(Path.of("/etc/farmem/pool.key")));
 * String token = issuer.issue(new CapabilityToken("node-a", incarnation, claimUid, epoch,
 *         List.of(new SlabRange(4, 2)), Rights.READ_WRITE, expiresAtMillis));
 * }</pre>
 */
public final class TokenIssuer {

    private final ThreadLocal<Mac> macs;

    public TokenIssuer(byte[] key) {
        this.macs = TokenFormat.macs(TokenKey.check(key, "the token key"));
    }

    /** @throws IllegalArgumentException when the grant names no incarnation ({@link Incarnation#NONE}) */
    public String issue(CapabilityToken grant) {
        byte[] payload = TokenFormat.encode(grant);
        byte[] mac = macs.get().doFinal(payload);
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        return b64.encodeToString(payload) + "." + b64.encodeToString(mac);
    }

    /** Shorthand for one range of slabs. */
    public String issue(String node, long incarnation, String claimUid, long epoch, int firstSlab, int slabCount, Rights rights, long expiresAtMillis) {
        return issue(new CapabilityToken(node, incarnation, claimUid, epoch, List.of(new SlabRange(firstSlab, slabCount)), rights, expiresAtMillis));
    }
}
