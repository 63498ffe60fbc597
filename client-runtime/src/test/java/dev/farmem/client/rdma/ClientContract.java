package dev.farmem.client.rdma;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarLongArray;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.sidecar.Sidecar;
import dev.farmem.client.sidecar.SidecarOptions;
import dev.farmem.common.binding.Binding;
import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What the client runtime must do on every transport, against real agents whose bindings name it: FarMemory
 * (in-process) and the sidecar open the transport the binding names, with their cache region registered (over RDMA
 * misses land in their frames); writes, evictions, write-back, reads back, a fenced
 * slab reported as an error, a lost node. TCP on the host ({@link TcpClientContractTest}), RDMA in the Soft-RoCE guest
 * ({@link RdmaClientContract}, launched by {@link RdmaClientGuestTest}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class ClientContract {

    static final long MIB = 1 << 20;

    private EmbeddedPool pool;

    /** Agents of {@code capacity} bytes in slabs of {@code slab} that serve this transport; their bindings name it. */
    abstract EmbeddedPool startPool(int agents, long capacity, long slab);

    /** The transport's name: what the bindings say and FarMemory opens. */
    abstract String transport();

    @BeforeAll
    void start() {
        pool = startPool(2, 16 * MIB, MIB);
    }

    @AfterAll
    void stop() {
        if (pool != null) pool.close();
    }

    private static FarMemoryOptions cache(long bytes) {
        return FarMemoryOptions.defaults().cacheBytes(bytes);
    }

    @Test
    void inProcessEveryByteWrittenIsReadBackAfterEvictionAndWriteBackAndFromAFreshCache() {
        Binding b = pool.bind("in-process", 2 * MIB, 2, 4096);
        assertThat(b.transport()).isEqualTo(transport());
        byte[] pattern = new byte[(int) (2 * MIB)];
        new Random(1).nextBytes(pattern);
        try (FarMemory mem = FarMemory.open(b, cache(128 * 1024))) { // 32 frames for 512 blocks: nearly every access evicts
            assertThat(mem.transport()).isEqualTo(transport());
            FarBuffer buf = mem.buffer();
            for (int at = 0; at < pattern.length; at += 5000) buf.put(at, pattern, at, Math.min(5000, pattern.length - at));
            byte[] back = new byte[pattern.length];
            buf.get(0, back);
            assertThat(back).isEqualTo(pattern);
            assertThat(mem.stats().evictions()).isGreaterThan(0);
            assertThat(mem.stats().writtenBackBytes()).isGreaterThan(0);
            mem.flush();
            assertThat(mem.stats().dirtyBytes()).isZero();
            assertThat(mem.stats().writebackErrors()).isZero();
        }
        try (FarMemory fresh = FarMemory.open(b, cache(128 * 1024))) {
            byte[] back = new byte[pattern.length];
            fresh.buffer().get(0, back);
            assertThat(back).isEqualTo(pattern);
        }
    }

    @Test
    void aFlushOfManyDirtyLinesBatchesMoreSegmentsThanOneRdmaChainHolds() {
        Binding b = pool.bind("many-lines", MIB, 1, 4096);
        long longs = MIB / 8;
        try (FarMemory mem = FarMemory.open(b, cache(MIB).prefetchDepth(0).backgroundFlusher(false))) {
            FarLongArray arr = mem.longArray(0, longs);
            for (long i = 0; i < longs; i += 16) arr.set(i, i * 3 + 1); // every other line of every block dirty: 32 segments per block
            mem.flush();
            assertThat(mem.stats().writebackErrors()).isZero();
        }
        try (FarMemory fresh = FarMemory.open(b, cache(256 * 1024))) {
            FarLongArray arr = fresh.longArray(0, longs);
            for (long i = 0; i < longs; i += 16) assertThat(arr.get(i)).as("long %d", i).isEqualTo(i * 3 + 1);
            for (long i = 8; i < longs; i += 16) assertThat(arr.get(i)).as("untouched long %d", i).isZero();
        }
    }

    @Test
    void aFencedSlabIsReportedAsAnErrorAndTheNewHolderKeepsTheData() {
        Binding first = pool.bind("takeover", MIB, 1, 4096);
        FarMemory old = FarMemory.open(first, cache(64 * 1024).backgroundFlusher(false));
        old.buffer().putLong(0, 7);
        old.flush();
        try (FarMemory now = FarMemory.open(pool.reattach(first), cache(64 * 1024))) { // a newer epoch: the agent fences the older one
            assertThat(now.buffer().getLong(0)).isEqualTo(7);
            old.buffer().putLong(8, 8);
            assertThatThrownBy(old::flush).hasMessageContaining("FENCED");
            assertThat(now.buffer().getLong(8)).as("the fenced write did not land").isZero();
            now.buffer().putLong(16, 16);
            now.flush();
        }
        try {
            old.close();
        } catch (RuntimeException lastWriteBackFailsToo) {
            assertThat(lastWriteBackFailsToo).hasMessageContaining("FENCED");
        }
    }

    @Test
    void aLostNodeIsDroppedAndTheClaimKeepsWorkingOnTheOtherReplica() {
        try (EmbeddedPool own = startPool(2, 8 * MIB, MIB)) {
            Binding b = own.bind("replicas", 2 * MIB, 2, 4096);
            long longs = 2 * MIB / 8;
            try (FarMemory mem = FarMemory.open(b, cache(128 * 1024))) {
                FarLongArray arr = mem.longArray(0, longs);
                for (long i = 0; i < longs; i += 64) arr.set(i, i);
                mem.flush();
                own.stopAgent(0);
                for (long i = 0; i < longs; i += 64) assertThat(arr.get(i)).isEqualTo(i); // reads fail over
                for (long i = 8; i < longs; i += 64) arr.set(i, -i); // writes continue
                mem.flush();
                assertThat(mem.failedReplicas()).containsExactly("agent-0");
                assertThat(mem.stats().writebackErrors()).isZero();
            }
            try (FarMemory fresh = FarMemory.open(b, cache(128 * 1024))) {
                FarLongArray arr = fresh.longArray(0, longs);
                for (long i = 0; i < longs; i += 64) {
                    assertThat(arr.get(i)).isEqualTo(i);
                    assertThat(arr.get(i + 8)).isEqualTo(-(i + 8));
                }
            }
        }
    }

    @Test
    void inSidecarModeTheApplicationReadsBackEveryByteItWroteAndTheSidecarWritesItBackOverRdma() throws IOException {
        Binding b = pool.bind("sidecar", 2 * MIB, 2, 4096);
        byte[] pattern = new byte[(int) (2 * MIB)];
        new Random(7).nextBytes(pattern);
        Path dir = Files.createTempDirectory("farmem-rdma-sidecar-");
        SidecarOptions options = SidecarOptions.defaults().directory(dir.resolve("shm")).engine(cache(256 * 1024));
        try (Closeable removeDir = () -> delete(dir); Sidecar sidecar = Sidecar.start(b, options)) { // the sidecar closes first
            try (FarMemory mem = FarMemory.attach(sidecar.directory(), 5_000)) {
                FarBuffer buf = mem.buffer();
                for (int at = 0; at < pattern.length; at += 3000) buf.put(at, pattern, at, Math.min(3000, pattern.length - at));
                byte[] back = new byte[pattern.length];
                buf.get(0, back);
                assertThat(back).isEqualTo(pattern);
                mem.flush();
            }
            assertThat(sidecar.stats().evictions()).isGreaterThan(0);
            assertThat(sidecar.stats().writebackErrors()).isZero();
        }
        try (FarMemory fresh = FarMemory.open(b, cache(256 * 1024))) {
            assertThat(fresh.transport()).isEqualTo(transport());
            byte[] back = new byte[pattern.length];
            fresh.buffer().get(0, back);
            assertThat(back).isEqualTo(pattern);
        }
    }

    private static void delete(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
