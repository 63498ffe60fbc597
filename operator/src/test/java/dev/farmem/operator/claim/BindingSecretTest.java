package dev.farmem.operator.claim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimSpec;
import dev.farmem.crds.MemoryNode;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenLifetime;
import dev.farmem.crds.FarMemoryPool;
import dev.farmem.crds.FarMemoryPoolSpec;
import java.time.Duration;
import dev.farmem.common.token.TokenKey;
import dev.farmem.agent.server.TokenVerifier;
import io.fabric8.kubernetes.api.model.Secret;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BindingSecretTest {
    static final long MIB = 1L << 20;
    static final long INCARNATION = 0x5eed_0000_0000_0001L;
    final byte[] key = TokenKey.generate();

    @Test
    void eachNodeGetsATokenForExactlyTheClaimsSlabsThere() {
        List<Binding.Extent> extents = List.of(
                new Binding.Extent(0, 2, List.of(new Binding.Replica("m1", 4), new Binding.Replica("m2", 0))),
                new Binding.Extent(2, 1, List.of(new Binding.Replica("m1", 6), new Binding.Replica("m3", 9))));
        long expires = System.currentTimeMillis() + 60_000;
        Binding b = BindingSecret.binding(claim(), "tcp", 16 * MIB, 42, extents, Map.of("m1", node("127.0.0.2:7070"), "m2", node("127.0.0.3:7070"),
                "m3", node("127.0.0.4:7070")), new TokenIssuer(key), expires);

        assertThat(Binding.fromJson(b.toJson())).isEqualTo(b);
        CapabilityToken m1 = new TokenVerifier(key, "m1", INCARNATION).verify(b.nodes().get("m1").token(), System.currentTimeMillis());
        assertThat(m1.slabs()).as("adjacent ranges merged").containsExactly(new SlabRange(4, 3));
        assertThat(m1.claimUid()).isEqualTo("uid-7");
        assertThat(m1.epoch()).isEqualTo(42);
        CapabilityToken m3 = new TokenVerifier(key, "m3", INCARNATION).verify(b.nodes().get("m3").token(), System.currentTimeMillis());
        assertThat(m3.slabs()).containsExactly(new SlabRange(9, 1));
        assertThat(b.nodes().get("m2").endpoint()).isEqualTo("127.0.0.3:7070");
    }

    @Test
    void aNodeWithoutAnEndpointYetIsNamed() {
        List<Binding.Extent> extents = List.of(new Binding.Extent(0, 3, List.of(new Binding.Replica("m9", 0))));
        assertThatThrownBy(() -> BindingSecret.binding(claim(), "tcp", 16 * MIB, 1, extents, Map.of(), new TokenIssuer(key), 0))
                .hasMessageContaining("memory node m9 has no endpoint yet");
    }

    @Test
    void tokensNameTheIncarnationTheNodeReportsAndANodeThatReportsNoneGetsNoToken() {
        List<Binding.Extent> extents = List.of(new Binding.Extent(0, 3, List.of(new Binding.Replica("m1", 0))));
        Binding b = BindingSecret.binding(claim(), "tcp", 16 * MIB, 1, extents, Map.of("m1", node("127.0.0.2:7070")), new TokenIssuer(key),
                System.currentTimeMillis() + 60_000);
        assertThat(new TokenVerifier(key, "m1", INCARNATION).verify(b.nodes().get("m1").token(), System.currentTimeMillis()).incarnation())
                .isEqualTo(INCARNATION);

        MemoryNode older = node("127.0.0.2:7070");
        older.getStatus().incarnation = null; // an agent of a release before incarnations
        assertThatThrownBy(() -> BindingSecret.binding(claim(), "tcp", 16 * MIB, 1, extents, Map.of("m1", older), new TokenIssuer(key), 0))
                .hasMessageContaining("memory node m1 has not reported its incarnation yet");
    }

    @Test
    void tokensAloneDoNotCountAsAChange() {
        List<Binding.Extent> extents = List.of(new Binding.Extent(0, 3, List.of(new Binding.Replica("m1", 0))));
        Map<String, MemoryNode> nodes = Map.of("m1", node("127.0.0.2:7070"));
        Binding a = BindingSecret.binding(claim(), "tcp", 16 * MIB, 1, extents, nodes, new TokenIssuer(key), 1000);
        Binding b = BindingSecret.binding(claim(), "tcp", 16 * MIB, 1, extents, nodes, new TokenIssuer(key), 2000);
        assertThat(a.nodes().get("m1").token()).isNotEqualTo(b.nodes().get("m1").token());
        assertThat(BindingSecret.sameExceptTokens(a, b)).isTrue();
        Binding moved = BindingSecret.binding(claim(), "tcp", 16 * MIB, 1, extents, Map.of("m1", node("127.0.0.9:7070")), new TokenIssuer(key), 1000);
        assertThat(BindingSecret.sameExceptTokens(a, moved)).as("an endpoint that moved is a change").isFalse();
    }

    @Test
    void tokensAreRenewedAtHalfThePoolsLifetimeAndASecretOfAnotherClaimObjectIsNotThisClaims() {
        List<Binding.Extent> extents = List.of(new Binding.Extent(0, 3, List.of(new Binding.Replica("m1", 0))));
        long now = 1_700_000_000_000L;
        TokenLifetime lifetime = TokenLifetime.ofSeconds(600);
        long expires = lifetime.expiresAt(now);
        Binding b = BindingSecret.binding(claim(), "tcp", 16 * MIB, 1, extents, Map.of("m1", node("127.0.0.2:7070")), new TokenIssuer(key), expires);
        Secret fresh = BindingSecret.secret(claim(), b, expires);
        assertThat(BindingSecret.tokensExpireAt(fresh)).isEqualTo(expires);
        assertThat(BindingSecret.renewalDue(fresh, lifetime, now + 299_000)).isFalse();
        assertThat(BindingSecret.renewalDue(fresh, lifetime, now + 300_000)).isTrue();
        Secret thirtyDays = BindingSecret.secret(claim(), b, now + Duration.ofDays(30).toMillis());
        assertThat(BindingSecret.renewalDue(thirtyDays, lifetime, now)).as("issued before the pool's lifetime was shortened").isTrue();
        fresh.getMetadata().getAnnotations().remove(BindingSecret.EXPIRES_ANNOTATION);
        assertThat(BindingSecret.renewalDue(fresh, lifetime, now)).as("an expiry the Secret does not state").isTrue();

        assertThat(BindingSecret.ownedBy(fresh, claim())).isTrue();
        FarMemoryClaim recreated = claim();
        recreated.getMetadata().setUid("uid-8");
        assertThat(BindingSecret.ownedBy(fresh, recreated)).as("a claim recreated under the same name is another owner").isFalse();
    }

    @Test
    void aPoolWithoutATokenLifetimeUsesTheDefaultOfTenMinutes() {
        FarMemoryPool pool = new FarMemoryPool();
        pool.setSpec(new FarMemoryPoolSpec());
        pool.getSpec().tokenTtlSeconds = null;
        assertThat(BindingSecret.lifetime(pool).ttl()).isEqualTo(Duration.ofMinutes(10));
        pool.getSpec().tokenTtlSeconds = 120;
        assertThat(BindingSecret.lifetime(pool).ttl()).isEqualTo(Duration.ofMinutes(2));
    }

    static FarMemoryClaim claim() {
        FarMemoryClaim c = new FarMemoryClaim();
        c.getMetadata().setName("cache");
        c.getMetadata().setNamespace("apps");
        c.getMetadata().setUid("uid-7");
        FarMemoryClaimSpec spec = new FarMemoryClaimSpec();
        spec.pool = "rack-a";
        spec.sizeBytes = 48 * MIB;
        spec.replication = 2;
        c.setSpec(spec);
        return c;
    }

    static MemoryNode node(String endpoint) {
        MemoryNode m = new MemoryNode();
        m.setStatus(new MemoryNodeStatus());
        m.getStatus().endpoint = endpoint;
        m.getStatus().incarnation = Incarnation.format(INCARNATION);
        return m;
    }
}
