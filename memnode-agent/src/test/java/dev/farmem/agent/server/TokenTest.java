package dev.farmem.agent.server;

import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenKey;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenIssuer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenTest {

    static final byte[] KEY = "0123456789abcdef0123456789abcdef".getBytes(StandardCharsets.US_ASCII);
    static final long NOW = 1_700_000_000_000L;
    final TokenIssuer issuer = new TokenIssuer(KEY);
    final TokenVerifier verifier = new TokenVerifier(KEY, "node-a");
    final CapabilityToken grant = new CapabilityToken("node-a", "uid-1", 7, List.of(new SlabRange(2, 3), new SlabRange(9, 1)),
            Rights.READ_WRITE, NOW + 60_000);

    @Test
    void verifiedTokenGrantsExactlyWhatWasIssued() {
        CapabilityToken back = verifier.verify(issuer.issue(grant), NOW);
        assertThat(back).isEqualTo(grant);
        assertThat(back.grants(2)).isTrue();
        assertThat(back.grants(4)).isTrue();
        assertThat(back.grants(5)).isFalse();
        assertThat(back.grants(9)).isTrue();
        assertThat(back.grants(1)).isFalse();
    }

    @Test
    void tokenSignedWithAnotherKeyIsUnauthenticated() {
        String foreign = new TokenIssuer("another-pool-key-another-pool-key".getBytes(StandardCharsets.US_ASCII)).issue(grant);
        assertRefused(foreign, ErrorCode.UNAUTHENTICATED, "does not verify");
    }

    @Test
    void everyAlteredByteOfThePayloadBreaksTheSignature() {
        String token = issuer.issue(grant);
        int dot = token.indexOf('.');
        byte[] payload = Base64.getUrlDecoder().decode(token.substring(0, dot));
        for (int i = 0; i < payload.length; i++) {
            byte[] changed = payload.clone();
            changed[i] ^= 1;
            String forged = Base64.getUrlEncoder().withoutPadding().encodeToString(changed) + token.substring(dot);
            assertRefused(forged, ErrorCode.UNAUTHENTICATED, "does not verify");
        }
    }

    @Test
    void tokenForAnotherNodeIsRefused() {
        String other = issuer.issue(new CapabilityToken("node-b", "uid-1", 7, grant.slabs(), Rights.READ_WRITE, NOW + 60_000));
        assertRefused(other, ErrorCode.UNAUTHENTICATED, "for memory node 'node-b'");
    }

    @Test
    void expiredTokenSaysSo() {
        assertRefused(issuer.issue(grant), NOW + 60_000, ErrorCode.TOKEN_EXPIRED, "expired");
    }

    @Test
    void malformedTextIsUnauthenticated() {
        assertRefused("", ErrorCode.UNAUTHENTICATED, "no token");
        assertRefused("abc", ErrorCode.UNAUTHENTICATED, "payload.signature");
        assertRefused("a.b.c", ErrorCode.UNAUTHENTICATED, "payload.signature");
        assertRefused("!!.??", ErrorCode.UNAUTHENTICATED, "base64url");
        assertRefused("x".repeat(5000), ErrorCode.UNAUTHENTICATED, "longer than");
    }

    @Test
    void readOnlyRightsSurviveTheRoundTrip() {
        CapabilityToken ro = new CapabilityToken("node-a", "uid-1", 7, List.of(new SlabRange(0, 1)), Rights.READ, NOW + 1);
        assertThat(verifier.verify(issuer.issue(ro), NOW).rights().canWrite()).isFalse();
    }

    @Test
    void emptyOrShortKeysAreRefusedWithAClearMessage(@TempDir Path dir) throws Exception {
        Path empty = Files.write(dir.resolve("empty.key"), new byte[0]);
        Path shortKey = Files.write(dir.resolve("short.key"), new byte[16]);
        Path good = Files.write(dir.resolve("good.key"), KEY);
        assertThatThrownBy(() -> TokenKey.read(empty)).hasMessageContaining("is empty");
        assertThatThrownBy(() -> TokenKey.read(shortKey)).hasMessageContaining("holds 16 bytes");
        assertThatThrownBy(() -> TokenKey.read(dir.resolve("missing.key"))).hasMessageContaining("does not exist");
        assertThat(TokenKey.read(good)).isEqualTo(KEY);
        assertThatThrownBy(() -> new TokenIssuer(new byte[8])).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void grantsMustNameSlabs() {
        assertThatThrownBy(() -> new CapabilityToken("n", "u", 1, List.of(), Rights.READ, 1)).hasMessageContaining("at least one slab");
        assertThatThrownBy(() -> new SlabRange(-1, 1)).hasMessageContaining("negative");
        assertThatThrownBy(() -> new SlabRange(0, 0)).hasMessageContaining("positive");
    }

    private void assertRefused(String token, ErrorCode code, String message) {
        assertRefused(token, NOW, code, message);
    }

    private void assertRefused(String token, long now, ErrorCode code, String message) {
        assertThatThrownBy(() -> verifier.verify(token, now))
                .isInstanceOfSatisfying(TransportException.class, e -> assertThat(e.code()).isEqualTo(code))
                .hasMessageContaining(message);
    }
}
