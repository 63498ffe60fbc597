package dev.farmem.agent.server;

import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.TokenFormat;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenKey;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenIssuer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
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
    static final long INCARNATION = 0x0123_4567_89ab_cdefL;
    final TokenVerifier verifier = new TokenVerifier(KEY, "node-a", INCARNATION);
    final CapabilityToken grant = new CapabilityToken("node-a", INCARNATION, "uid-1", 7, List.of(new SlabRange(2, 3), new SlabRange(9, 1)),
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
        String other = issuer.issue(new CapabilityToken("node-b", INCARNATION, "uid-1", 7, grant.slabs(), Rights.READ_WRITE, NOW + 60_000));
        assertRefused(other, ErrorCode.UNAUTHENTICATED, "for memory node 'node-b'");
    }

    @Test
    void tokenForAnEarlierIncarnationOfTheNodeIsStaleAndSaysTheNodeRestarted() {
        String earlier = issuer.issue(new CapabilityToken("node-a", INCARNATION + 1, "uid-1", 7, grant.slabs(), Rights.READ_WRITE, NOW + 60_000));
        assertRefused(earlier, ErrorCode.STALE_INCARNATION, "is for incarnation 0123456789abcdf0 of memory node 'node-a', this agent is incarnation"
                + " 0123456789abcdef: the node restarted");
    }

    @Test
    void aFormatOneTokenWithoutIncarnationStillDecodesButIsRefusedAsStale() {
        byte[] node = "node-a".getBytes(StandardCharsets.UTF_8);
        byte[] uid = "uid-1".getBytes(StandardCharsets.UTF_8);
        ByteBuffer p = ByteBuffer.allocate(2 + 16 + 2 + node.length + 2 + uid.length + 2 + 8).order(ByteOrder.LITTLE_ENDIAN);
        p.put((byte) 1).put((byte) Rights.READ_WRITE.wire()).putLong(7).putLong(NOW + 60_000);
        p.putShort((short) node.length).put(node).putShort((short) uid.length).put(uid).putShort((short) 1).putInt(2).putInt(3);
        byte[] payload = p.array();
        assertThat(TokenFormat.decode(payload).incarnation()).isEqualTo(Incarnation.NONE);
        Base64.Encoder b64 = Base64.getUrlEncoder().withoutPadding();
        String formatOne = b64.encodeToString(payload) + "." + b64.encodeToString(TokenFormat.macs(KEY).get().doFinal(payload));
        assertRefused(formatOne, ErrorCode.STALE_INCARNATION, "names no incarnation");
    }

    @Test
    void noTokenIsIssuedForNoIncarnationAndNoAgentRunsAsNone() {
        assertThatThrownBy(() -> issuer.issue(new CapabilityToken("node-a", Incarnation.NONE, "uid-1", 7, grant.slabs(), Rights.READ, NOW)))
                .hasMessageContaining("names no incarnation");
        assertThatThrownBy(() -> new TokenVerifier(KEY, "node-a", Incarnation.NONE)).hasMessageContaining("cannot be 'none'");
    }

    @Test
    void incarnationsAreWrittenAsSixteenHexDigits() {
        assertThat(Incarnation.format(-2)).isEqualTo("fffffffffffffffe");
        assertThat(Incarnation.parse("fffffffffffffffe")).isEqualTo(-2);
        assertThat(Incarnation.parse(Incarnation.format(INCARNATION))).isEqualTo(INCARNATION);
        assertThat(Incarnation.draw()).isNotEqualTo(Incarnation.NONE);
        assertThatThrownBy(() -> Incarnation.parse("12")).hasMessageContaining("not 16 hex digits");
        assertThatThrownBy(() -> Incarnation.parse("000000000000000g")).hasMessageContaining("not 16 hex digits");
        assertThatThrownBy(() -> Incarnation.parse("0000000000000000")).hasMessageContaining("reserved");
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
        CapabilityToken ro = new CapabilityToken("node-a", INCARNATION, "uid-1", 7, List.of(new SlabRange(0, 1)), Rights.READ, NOW + 1);
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
        assertThatThrownBy(() -> new CapabilityToken("n", 1, "u", 1, List.of(), Rights.READ, 1)).hasMessageContaining("at least one slab");
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
