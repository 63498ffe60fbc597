package dev.farmem.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.Endpoint;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.transport.wire.BlockingWireClient;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.CopyState;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A replica that joined to replace a lost one and is still being filled ({@code filling} in the binding): the client
 * writes to it and never reads it; once the copy is done it alone holds every write.
 */
class FillingReplicaTest {

    private static final long MIB = 1 << 20;
    private static final int JOIN_SLAB = 5;

    @Test
    void theClientWritesToAFillingReplicaNeverReadsItAndAfterTheCopyItHoldsEverything() throws Exception {
        try (EmbeddedPool pool = EmbeddedPool.start(3, 8 * MIB, MIB)) {
            Binding b = pool.bind("healing", MIB, 2, 4096); // agent-0 and agent-1
            long longs = MIB / 8;
            try (FarMemory mem = FarMemory.open(b, FarMemoryOptions.defaults().cacheBytes(128 * 1024))) {
                FarLongArray arr = mem.longArray(0, longs);
                for (long i = 0; i < longs; i++) arr.set(i, i + 1);
                mem.flush();
            }
            pool.stopAgent(1);
            int survivorSlab = b.locate(0).stream().filter(l -> l.node().equals("agent-0")).findFirst().orElseThrow().remoteSlab();
            TokenIssuer issuer = new TokenIssuer(pool.key());
            long epoch = b.epoch() + 1000;
            String copyToken = token(pool, issuer, 2, b.claimUid(), epoch, JOIN_SLAB, Rights.COPY);
            Endpoint agent2 = pool.agents().get(2).endpoint();
            Endpoint agent0 = pool.agents().get(0).endpoint();
            try (BlockingWireClient operator = BlockingWireClient.connect(agent2, copyToken, Duration.ofSeconds(10))) {
                // Joined before the binding names it; now the binding with agent-2 filling.
                Binding healing = new Binding(b.version(), b.pool(), b.claim(), b.claimUid(), epoch, b.transport(), b.sizeBytes(), b.slabSize(),
                        b.blockSize(), Map.of(
                        "agent-0", new Binding.Node(agent0.toString(), token(pool, issuer, 0, b.claimUid(), epoch, survivorSlab, Rights.READ_WRITE)),
                        "agent-2", new Binding.Node(agent2.toString(), token(pool, issuer, 2, b.claimUid(), epoch, JOIN_SLAB, Rights.READ_WRITE))),
                        List.of(new Binding.Extent(0, 1, List.of(new Binding.Replica("agent-0", survivorSlab), new Binding.Replica("agent-2", JOIN_SLAB, true)))))
                        .validate();
                assertThat(Binding.fromJson(healing.toJson())).isEqualTo(healing);
                try (FarMemory mem = FarMemory.open(healing, FarMemoryOptions.defaults().cacheBytes(128 * 1024))) {
                    FarLongArray arr = mem.longArray(0, longs);
                    for (long i = 0; i < longs; i += 3) arr.set(i, -i); // misses read agent-0: agent-2 would refuse them
                    mem.flush();
                    assertThat(mem.failedReplicas()).isEmpty();
                }
                String sourceToken = token(pool, issuer, 0, b.claimUid(), epoch, survivorSlab, Rights.READ);
                CopyOk p = operator.copy(JOIN_SLAB, survivorSlab, 1, agent0, sourceToken);
                for (int polls = 0; p.state() == CopyState.RUNNING && polls < 10_000; polls++) {
                    Thread.sleep(5);
                    p = operator.copy(JOIN_SLAB, survivorSlab, 1, agent0, sourceToken);
                }
                assertThat(p.state()).as(p.message()).isEqualTo(CopyState.DONE);
            }
            pool.stopAgent(0);
            Binding alone = new Binding(b.version(), b.pool(), b.claim(), b.claimUid(), epoch, b.transport(), b.sizeBytes(), b.slabSize(),
                    b.blockSize(), Map.of("agent-2", new Binding.Node(agent2.toString(), token(pool, issuer, 2, b.claimUid(), epoch, JOIN_SLAB, Rights.READ_WRITE))),
                    List.of(new Binding.Extent(0, 1, List.of(new Binding.Replica("agent-2", JOIN_SLAB))))).validate();
            try (FarMemory mem = FarMemory.open(alone, FarMemoryOptions.defaults().cacheBytes(128 * 1024))) {
                FarLongArray arr = mem.longArray(0, longs);
                for (long i = 0; i < longs; i++) assertThat(arr.get(i)).as("index %d", i).isEqualTo(i % 3 == 0 ? -i : i + 1);
            }
        }
    }

    private static String token(EmbeddedPool pool, TokenIssuer issuer, int agent, String uid, long epoch, int slab, Rights rights) {
        return issuer.issue(new CapabilityToken("agent-" + agent, pool.incarnation(agent), uid, epoch, List.of(new SlabRange(slab, 1)), rights,
                System.currentTimeMillis() + 3_600_000));
    }
}
