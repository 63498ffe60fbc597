package dev.farmem.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import org.junit.jupiter.api.Test;

/**
 * A memory node whose agent restarted (same name, same port, a new and empty region) refuses the binding's
 * tokens as STALE_INCARNATION; the client takes that replica as lost, never reads its zeros, and fails with an
 * error that says so when a slab has no replica left.
 */
class RestartedReplicaTest {

    private static final long MIB = 1 << 20;

    private static FarMemoryOptions smallCache() {
        return FarMemoryOptions.defaults().cacheBytes(128 * 1024);
    }

    @Test
    void withTwoReplicasTheClientKeepsReadingAndWritingTheOtherAndNeverSeesTheRestartedNodesZeros() {
        try (EmbeddedPool pool = EmbeddedPool.start(2, 16 * MIB, MIB)) {
            Binding b = pool.bind("two-replicas", 4 * MIB, 2, 4096);
            long longs = 4 * MIB / 8;
            try (FarMemory mem = FarMemory.open(b, smallCache())) {
                FarLongArray arr = mem.longArray(0, longs);
                for (long i = 0; i < longs; i += 64) arr.set(i, i + 1);
                mem.flush();
                pool.restartAgent(0);
                for (long i = 0; i < longs; i += 64) assertThat(arr.get(i)).isEqualTo(i + 1); // the open client fails over
            }
            try (FarMemory fresh = FarMemory.open(b, smallCache())) { // connects after the restart: agent-0 refuses the old token
                assertThat(fresh.failedReplicas()).containsExactly("agent-0");
                FarLongArray arr = fresh.longArray(0, longs);
                for (long i = 0; i < longs; i += 64) assertThat(arr.get(i)).as("index %d", i).isEqualTo(i + 1);
                for (long i = 8; i < longs; i += 64) arr.set(i, -i);
                fresh.flush();
                for (long i = 8; i < longs; i += 64) assertThat(arr.get(i)).isEqualTo(-i);
                assertThat(fresh.stats().writebackErrors()).isZero();
            }
        }
    }

    @Test
    void withOneReplicaOpeningAClaimWhoseOnlyNodeRestartedFailsSayingTheDataIsGone() {
        try (EmbeddedPool pool = EmbeddedPool.start(1, 8 * MIB, MIB)) {
            Binding b = pool.bind("one-replica", 2 * MIB, 1, 4096);
            try (FarMemory mem = FarMemory.open(b, smallCache())) {
                mem.longArray(0, 8).set(0, 42);
                mem.flush();
            }
            pool.restartAgent(0);
            assertThatThrownBy(() -> FarMemory.open(b, smallCache()))
                    .isInstanceOfSatisfying(TransportException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.STALE_INCARNATION))
                    .hasMessageContaining("no memory node of claim one-replica holds its data")
                    .hasMessageContaining("agent-0 restarted (a new incarnation, without the claim's data)");
        }
    }

    @Test
    void withOneReplicaTheSlabsOnTheRestartedNodeFailClearlyAndTheOthersStillServe() {
        try (EmbeddedPool pool = EmbeddedPool.start(2, 8 * MIB, MIB)) {
            Binding b = pool.bind("spread", 2 * MIB, 1, 4096); // claim slab 0 on agent-0, slab 1 on agent-1
            assertThat(b.locate(0).get(0).node()).isEqualTo("agent-0");
            assertThat(b.locate(1).get(0).node()).isEqualTo("agent-1");
            long perSlab = MIB / 8;
            try (FarMemory mem = FarMemory.open(b, smallCache())) {
                FarLongArray arr = mem.longArray(0, 2 * perSlab);
                arr.set(0, 7);
                arr.set(perSlab, 9);
                mem.flush();
            }
            pool.restartAgent(0);
            try (FarMemory fresh = FarMemory.open(b, smallCache())) {
                FarLongArray arr = fresh.longArray(0, 2 * perSlab);
                assertThat(arr.get(perSlab)).isEqualTo(9);
                assertThatThrownBy(() -> arr.get(0))
                        .hasMessageContaining("slab 0 of claim spread has no live replica left for the read")
                        .hasMessageContaining("agent-0 restarted (a new incarnation, without the claim's data)")
                        .hasMessageContaining("its data is gone");
            }
        }
    }
}
