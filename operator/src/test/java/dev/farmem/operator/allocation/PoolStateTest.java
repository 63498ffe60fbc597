package dev.farmem.operator.allocation;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.crds.FarMemoryPool;
import dev.farmem.operator.pool.AgentObjects;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.agent.server.TokenVerifier;
import io.fabric8.kubernetes.api.model.Secret;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A pool's state lives and dies with the pool object: a recreated pool signs with its own key. */
class PoolStateTest {

    @Test
    void aPoolDeletedAndRecreatedUnderTheSameNameSignsWithItsNewKey() {
        PoolAllocations allocations = new PoolAllocations();
        FarMemoryPool first = pool("uid-first");
        Secret firstKey = AgentObjects.keySecret(first, "farmem-system");
        TokenIssuer firstIssuer = allocations.of("rack-a", "uid-first", List::of).issuer(firstKey, AgentObjects.KEY_FILE_NAME);
        assertThat(firstIssuer).isNotNull();

        // The pool is deleted and created again under the same name: a new uid and a new key Secret.
        FarMemoryPool second = pool("uid-second");
        Secret secondKey = AgentObjects.keySecret(second, "farmem-system");
        PoolState state = allocations.of("rack-a", "uid-second", List::of);
        assertThat(state.issuer(firstKey, AgentObjects.KEY_FILE_NAME))
                .as("the old pool's Secret, not yet collected, is not the new pool's key").isNull();
        TokenIssuer secondIssuer = state.issuer(secondKey, AgentObjects.KEY_FILE_NAME);

        String token = secondIssuer.issue("node-a", 1, "claim-uid", 1, 0, 1, Rights.READ_WRITE, System.currentTimeMillis() + 60_000);
        assertThat(new TokenVerifier(key(secondKey), "node-a", 1).verify(token, System.currentTimeMillis()).claimUid()).isEqualTo("claim-uid");
        assertThatThrownBy(() -> new TokenVerifier(key(firstKey), "node-a", 1).verify(token, System.currentTimeMillis()))
                .hasMessageContaining("does not verify with this pool's key");
    }

    @Test
    void forgettingAPoolDropsItsAllocatorIssuerEpochsAndLostNodesTogether() {
        PoolAllocations allocations = new PoolAllocations();
        Secret key = AgentObjects.keySecret(pool("uid-1"), "farmem-system");
        PoolState before = allocations.of("rack-a", "uid-1", List::of);
        before.foundLost("m1");
        assertThat(before.issuer(key, AgentObjects.KEY_FILE_NAME)).isNotNull();
        assertThat(allocations.of("rack-a", "uid-1", List::of)).isSameAs(before);

        allocations.forget("rack-a");
        PoolState after = allocations.of("rack-a", "uid-1", List::of);
        assertThat(after).isNotSameAs(before);
        assertThat(after.foundLost()).isEmpty();
        assertThat(after.allocator().claims()).isEmpty();
    }

    static FarMemoryPool pool(String uid) {
        FarMemoryPool p = new FarMemoryPool();
        p.getMetadata().setName("rack-a");
        p.getMetadata().setUid(uid);
        return p;
    }

    private static byte[] key(Secret s) {
        return java.util.Base64.getDecoder().decode(s.getData().get(AgentObjects.KEY_FILE_NAME));
    }
}
