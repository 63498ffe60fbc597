package dev.farmem.client.sidecar;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import dev.farmem.client.FarMemoryOptions;
import dev.farmem.client.cache.CacheRegion;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.rdma.RdmaSupport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Sidecar mode with real agents on loopback, and applications and sidecars in separate JVMs. */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class SidecarTest {

    private static final long MIB = 1 << 20;
    private static final String CACHE = "256Ki"; // 64 frames of 4 KiB: every test evicts
    private static EmbeddedPool pool;
    private Path dir;
    private Path bindingFile;

    @BeforeAll
    static void startPool() {
        pool = EmbeddedPool.start(2, 32 * MIB, MIB);
    }

    @AfterAll
    static void stopPool() {
        pool.close();
    }

    @BeforeEach
    void sharedMemory() throws IOException {
        Path shm = Path.of("/dev/shm");
        dir = Files.isWritable(shm) ? Files.createTempDirectory(shm, "farmem-test-") : Files.createTempDirectory("farmem-test-");
        bindingFile = dir.resolve("binding.json");
    }

    @AfterEach
    void removeSharedMemory() throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private Binding bind(String name, long bytes) throws IOException {
        Binding b = pool.bind(name, bytes, 2, 4096);
        Files.writeString(bindingFile, b.toJson());
        return b;
    }

    private SidecarOptions options() {
        return SidecarOptions.defaults().directory(dir.resolve("shm")).leaseTimeoutMillis(5_000).sidecarTimeoutMillis(5_000)
                .engine(FarMemoryOptions.defaults().cacheBytes(256 * 1024));
    }

    private ChildJvm startSidecarProcess() throws InterruptedException {
        ChildJvm sidecar = ChildJvm.start(SidecarMain.class, "--binding", bindingFile.toString(), "--shm", dir.resolve("shm").toString(),
                "--cache-bytes", CACHE, "--metrics-address=", "--lease-timeout-ms", "5000", "--sidecar-timeout-ms", "5000");
        sidecar.awaitLine("farmem sidecar: serving claim", 30);
        return sidecar;
    }

    /** Why the sidecar serving {@code shm} stopped, as it told its applications; null while it runs. */
    private static String stopReason(Path shm) throws IOException {
        Path file = shm.resolve(SharedControl.FILE);
        SharedControl control = SharedControl.existing(SharedControl.map(file, Files.size(file)));
        return control.state() == SharedControl.STATE_STOPPED ? control.stopReason() : null;
    }

    /** What the agents hold, read by a fresh in-process runtime. */
    private static byte[] onAgents(Binding b) {
        try (FarMemory fresh = FarMemory.open(b, FarMemoryOptions.defaults().cacheBytes(256 * 1024))) {
            byte[] out = new byte[(int) fresh.size()];
            fresh.buffer().get(0, out);
            return out;
        }
    }

    @Test
    void aBindingThatSaysRdmaOnAHostWithoutRdmaStopsTheSidecarWithTheProbesReason() throws IOException {
        Binding tcp = bind("rdma-here", MIB);
        Binding rdma = new Binding(tcp.version(), tcp.pool(), tcp.claim(), tcp.claimUid(), tcp.epoch(), "rdma", tcp.sizeBytes(), tcp.slabSize(),
                tcp.blockSize(), tcp.nodes(), tcp.extents());
        assertThatThrownBy(() -> Sidecar.start(rdma, options()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("claim rdma-here is bound with transport rdma")
                .hasMessageContaining(RdmaSupport.probe().reason());
    }

    @Test
    void anAttachedApplicationReadsBackEveryByteItWroteAndTheSidecarWritesItBack() throws IOException {
        Binding b = bind("every-byte", 2 * MIB);
        byte[] pattern = new byte[(int) (2 * MIB)];
        new Random(7).nextBytes(pattern);
        try (Sidecar sidecar = Sidecar.start(b, options())) {
            try (FarMemory mem = FarMemory.attach(sidecar.directory(), 5_000)) {
                assertThat(mem.size()).isEqualTo(2 * MIB);
                assertThat(mem.claim()).isEqualTo("every-byte");
                FarBuffer buf = mem.buffer();
                for (int at = 0; at < pattern.length; at += 3000) buf.put(at, pattern, at, Math.min(3000, pattern.length - at));
                byte[] back = new byte[pattern.length];
                buf.get(0, back);
                assertThat(back).isEqualTo(pattern);
                mem.flush();
            }
            assertThat(sidecar.stats().evictions()).isGreaterThan(0);
            assertThat(sidecar.stats().hits()).isGreaterThan(0); // the application's own hits reach the sidecar's metrics
            assertThat(sidecar.attachedClients()).isZero();
        }
        assertThat(onAgents(b)).isEqualTo(pattern);
    }

    @Test
    void shadowCopyStressWithWritersInTwoProcessesLosesNoUpdate() throws Exception {
        Binding b = bind("shadow", MIB);
        int writers = 3;
        int ops = 8_000;
        long[][] shadows = new long[writers][];
        try (ChildJvm sidecar = startSidecarProcess()) {
            Path childShadow = dir.resolve("shadow-2");
            try (ChildJvm other = ChildJvm.start(SidecarTestApp.class, "writer", dir.resolve("shm").toString(), "2", "" + writers, "" + ops,
                    childShadow.toString())) {
                try (FarMemory mem = FarMemory.attach(dir.resolve("shm"), 10_000)) {
                    Thread[] threads = new Thread[2];
                    Throwable[] failures = new Throwable[2];
                    for (int w = 0; w < 2; w++) {
                        int writer = w;
                        threads[w] = new Thread(() -> {
                            try {
                                shadows[writer] = SidecarTestApp.ShadowWriter.run(mem.buffer(), mem::flush, writer, writers, ops, 31L * writer);
                            } catch (Throwable t) {
                                failures[writer] = t;
                            }
                        });
                        threads[w].start();
                    }
                    for (Thread t : threads) t.join();
                    for (Throwable f : failures) if (f != null) throw new AssertionError("a writer of this process failed", f);
                    mem.flush();
                }
                assertThat(other.await(60)).as(other.output()).isZero();
                shadows[2] = SidecarTestApp.read(childShadow);
            }
            sidecar.terminate(30);
            assertThat(stopReason(dir.resolve("shm"))).as(sidecar.output()).startsWith("stopped cleanly");
            java.nio.LongBuffer agents = java.nio.ByteBuffer.wrap(onAgents(b)).order(java.nio.ByteOrder.LITTLE_ENDIAN).asLongBuffer();
            int owned = agents.capacity() / writers;
            for (int i = 0; i < owned * writers; i++) {
                assertThat(agents.get(i)).as("long %d of writer %d", i, i % writers).isEqualTo(shadows[i % writers][i]);
            }
        }
    }

    @Test
    void aCrashedApplicationLosesItsLeaseWhileTheSidecarAndAnotherApplicationGoOn() throws Exception {
        Binding b = bind("app-crash", MIB);
        try (Sidecar sidecar = Sidecar.start(b, options())) {
            int frame;
            try (ChildJvm crashing = ChildJvm.start(SidecarTestApp.class, "pin-and-wait", sidecar.directory().toString(), "3")) {
                frame = Integer.parseInt(crashing.awaitLine("pinned ", 30).substring("pinned ".length()));
                assertThat(sidecar.attachedClients()).isEqualTo(1);
                crashing.kill();
            }
            try (FarMemory mem = FarMemory.attach(sidecar.directory(), 5_000)) {
                FarBuffer buf = mem.buffer();
                long deadline = System.currentTimeMillis() + 10_000;
                while (sidecar.reclaimedClients() == 0 && System.currentTimeMillis() < deadline) Thread.sleep(20);
                assertThat(sidecar.reclaimedClients()).isEqualTo(1);
                assertThat(sidecar.attachedClients()).isEqualTo(1);
                assertThat(buf.getLong(3 * 4096 + 8)).isEqualTo(0x5EED_5EEDL); // its last write is in the shared cache
                for (long at = 0; at < mem.size(); at += 4096) buf.putLong(at, at); // sweeps the claim: 4x the cache
                mem.flush();
                assertThat(sidecar.region().tag(frame)).as("the dead application's frame was evicted").isNotEqualTo(4);
            }
        }
        byte[] agents = onAgents(b);
        assertThat(java.nio.ByteBuffer.wrap(agents).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(3 * 4096 + 8)).isEqualTo(0x5EED_5EEDL);
    }

    @Test
    void aKilledSidecarGivesAClearErrorAndARestartedOneLosesNoAcknowledgedWrite() throws Exception {
        Binding b = bind("sidecar-crash", MIB);
        long[] shadow = new long[(int) (MIB / 8)];
        Random rnd = new Random(11);
        ChildJvm sidecar = startSidecarProcess();
        try (FarMemory mem = FarMemory.attach(dir.resolve("shm"), 10_000)) {
            FarBuffer buf = mem.buffer();
            for (int round = 0; round < 2; round++) {
                for (int k = 0; k < 3000; k++) { // writes all over the claim, then a kill -9 in the middle of write-backs
                    int i = rnd.nextInt(shadow.length);
                    shadow[i] = rnd.nextLong();
                    buf.putLong(8L * i, shadow[i]);
                }
                Thread flusher = new Thread(() -> {
                    try {
                        mem.flush();
                    } catch (SidecarUnavailableException expected) {
                        // the kill may land during this flush
                    }
                });
                flusher.start();
                Thread.sleep(rnd.nextInt(5));
                sidecar.kill();
                flusher.join(10_000);
                assertThatThrownBy(() -> { // a block that is surely not cached any more
                    for (long at = 0; at < mem.size(); at += 4096) buf.getLong(at);
                }).isInstanceOf(SidecarUnavailableException.class)
                        .hasMessageContaining("farmem sidecar of claim sidecar-crash")
                        .hasMessageContaining("writes a flush acknowledged are safe");
                assertThatThrownBy(mem::flush).isInstanceOf(SidecarUnavailableException.class);
                sidecar = startSidecarProcess();
                for (int i = 0; i < shadow.length; i += 97) assertThat(buf.getLong(8L * i)).isEqualTo(shadow[i]);
            }
            mem.flush();
        } finally {
            sidecar.terminate(30);
            assertThat(stopReason(dir.resolve("shm"))).as(sidecar.output()).startsWith("stopped cleanly");
        }
        long[] agents = new long[shadow.length];
        java.nio.ByteBuffer.wrap(onAgents(b)).order(java.nio.ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(agents);
        assertThat(agents).isEqualTo(shadow); // acknowledged or not, no write was lost across two crashes
    }

    @Test
    void newTokensInTheBindingAreUsedWithoutARestart() throws Exception {
        Binding b = bind("reload", MIB);
        try (Sidecar sidecar = Sidecar.start(b, options().bindingPath(bindingFile).bindingPollMillis(20));
             FarMemory mem = FarMemory.attach(sidecar.directory(), 5_000)) {
            mem.buffer().putLong(0, 1);
            mem.flush();
            Binding renewed = pool.reattach(b);
            Files.writeString(bindingFile, renewed.toJson());
            assertThat(onAgents(renewed)[0]).isEqualTo((byte) 1); // the new epoch reaches the agents: old tokens are fenced
            long deadline = System.currentTimeMillis() + 10_000;
            for (;;) {
                mem.buffer().putLong(8, 2);
                try {
                    mem.flush();
                    break;
                } catch (RuntimeException fencedUntilReloaded) {
                    if (System.currentTimeMillis() > deadline) throw fencedUntilReloaded;
                    Thread.sleep(50);
                }
            }
            assertThat(java.nio.ByteBuffer.wrap(onAgents(renewed)).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(8)).isEqualTo(2);
        }
    }

    @Test
    void renewedTokensAreUsedOnNewConnectionsAndTheSidecarOutlivesTheTokensItStartedWith() throws Exception {
        Binding b = pool.renew(bind("renewal", MIB), java.time.Duration.ofSeconds(10));
        Files.writeString(bindingFile, b.toJson());
        try (Sidecar sidecar = Sidecar.start(b, options().bindingPath(bindingFile).bindingPollMillis(20));
             FarMemory mem = FarMemory.attach(sidecar.directory(), 5_000)) {
            Binding renewed = b;
            for (int round = 1; round <= 3; round++) {
                renewed = pool.renew(renewed, java.time.Duration.ofSeconds(10));
                Path tmp = dir.resolve("binding.json.tmp");
                Files.writeString(tmp, renewed.toJson());
                Files.move(tmp, bindingFile, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
                for (long i = 0; i < MIB / 8; i += 512) mem.buffer().putLong(i * 8, i + round);
                mem.flush();
                Thread.sleep(4_000);
            }
            // Past the first tokens' expiry: every write since went out with renewed ones, none failed.
            for (long i = 0; i < MIB / 8; i += 512) assertThat(mem.buffer().getLong(i * 8)).isEqualTo(i + 3);
            assertThat(mem.stats().writebackErrors()).isZero();
            assertThat(mem.stats().replicaFailures()).isZero();
        }
        byte[] agents = onAgents(pool.renew(b, java.time.Duration.ofMinutes(1)));
        assertThat(java.nio.ByteBuffer.wrap(agents).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong(512 * 8)).isEqualTo(512 + 3);
    }

    @Test
    void aThreadThatSleepsOnItsDoorbellIsWokenByItsAnswerWhetherTheSidecarPolledItsRequestOrNot() throws IOException {
        for (long pollMicros : new long[] {0, SidecarOptions.defaults().pollMicros()}) {
            Binding b = bind("doorbell-wake-" + pollMicros, MIB);
            try (Sidecar sidecar = Sidecar.start(b, options().pollMicros(pollMicros)); SidecarClient app = SidecarClient.attach(sidecar.directory(), 5_000)) {
                CacheRegion region = app.region();
                for (long block = 0; block < 200; block++) { // more blocks than frames: misses, evictions and write-backs
                    int f = app.pin(block);
                    region.buffer().putLong(region.dataIndex(f, 8), block * 31);
                    app.markDirty(f, 8, 8);
                    app.unpin(f);
                }
                app.flush(); // writing back 64 dirty frames to two replicas takes longer than a waiter spins
                assertThat(sidecar.wakesSent()).as("poll %d us", pollMicros).isPositive();
                assertThat(app.wakeups()).isPositive().isLessThanOrEqualTo(sidecar.wakesSent());
                for (long block = 0; block < 200; block += 7) {
                    int f = app.pin(block);
                    assertThat(region.buffer().getLong(region.dataIndex(f, 8))).isEqualTo(block * 31);
                    app.unpin(f);
                }
            }
        }
    }

    @Test
    void missAfterMissWhileTheSidecarPollsRingsNoDoorbellAndWithoutPollingEachRings() throws IOException {
        // A long window: the test is about the hand-off, not about how fast this machine comes back between misses.
        for (long pollMicros : new long[] {10_000, 0}) {
            Binding b = bind("polled-" + pollMicros, MIB);
            SidecarOptions noPrefetch = options().pollMicros(pollMicros).engine(FarMemoryOptions.defaults().cacheBytes(256 * 1024).prefetchDepth(0));
            try (Sidecar sidecar = Sidecar.start(b, noPrefetch); SidecarClient app = SidecarClient.attach(sidecar.directory(), 5_000)) {
                int misses = 0;
                for (long block = 0; block < 256; block += 1) { // a cold cache, no prefetch: every block misses
                    app.unpin(app.pin(block));
                    misses++;
                }
                assertThat(sidecar.stats().misses()).isEqualTo(misses);
                if (pollMicros > 0) {
                    assertThat(app.requestBells()).as("bells while the sidecar polled").isLessThan(misses / 4);
                } else {
                    assertThat(app.requestBells()).as("bells without polling").isGreaterThanOrEqualTo(misses);
                }
            }
        }
    }

    @Test
    void threadsThatShareTheSidecarRingTheirDoorbellsAndEveryReadIsRight() throws Exception {
        Binding b = bind("shared-polling", MIB);
        SidecarOptions noPrefetch = options().pollMicros(10_000).engine(FarMemoryOptions.defaults().cacheBytes(256 * 1024).prefetchDepth(0));
        try (Sidecar sidecar = Sidecar.start(b, noPrefetch); SidecarClient app = SidecarClient.attach(sidecar.directory(), 5_000)) {
            CacheRegion region = app.region();
            for (long block = 0; block < 256; block++) {
                int f = app.pin(block);
                region.buffer().putLong(region.dataIndex(f, 0), block * 7);
                app.markDirty(f, 0, 8);
                app.unpin(f);
            }
            app.flush();
            long ringsBefore = app.requestBells();
            long missesBefore = sidecar.stats().misses();
            int perThread = 300;
            java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
            java.util.List<Thread> threads = new java.util.ArrayList<>();
            for (int t = 0; t < 2; t++) {
                int seed = t;
                Thread th = new Thread(() -> {
                    Random rnd = new Random(seed);
                    try {
                        for (int i = 0; i < perThread; i++) {
                            long block = rnd.nextInt(256);
                            int f = app.pin(block);
                            try {
                                assertThat(region.buffer().getLong(region.dataIndex(f, 0))).isEqualTo(block * 7);
                            } finally {
                                app.unpin(f);
                            }
                        }
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                });
                th.start();
                threads.add(th);
            }
            for (Thread th : threads) th.join();
            assertThat(failure.get()).isNull();
            long misses = sidecar.stats().misses() - missesBefore;
            assertThat(misses).isGreaterThan(perThread); // a 64-frame cache over 256 blocks: most reads miss
            // Two threads at once: the sidecar does not keep a core spinning for them, so most of their misses rang.
            assertThat(app.requestBells() - ringsBefore).as("bells of two threads sharing the sidecar").isGreaterThan(perThread / 2);
        }
    }

    @Test
    void aStrangerOnTheDoorbellIsRefusedAndTheApplicationsGoOn() throws Exception {
        Binding b = bind("doorbell-stranger", MIB);
        try (Sidecar sidecar = Sidecar.start(b, options()); FarMemory mem = FarMemory.attach(sidecar.directory(), 5_000)) {
            mem.buffer().putLong(0, 42);
            Path socket = sidecar.directory().resolve(DoorbellServer.FILE);
            for (String shared : new String[] {DoorbellServer.FILE, SharedControl.FILE, Sidecar.REGION_FILE}) { // for an application of another user
                assertThat(java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(sidecar.directory().resolve(shared))))
                        .as(shared).isEqualTo("rw-rw----");
            }
            long[][] hellos = {{12345, 0}, {12345, 1 << 20}, {-1, -5}}; // a token no lease holds; slots that do not exist
            for (long[] hello : hellos) {
                try (java.nio.channels.SocketChannel stranger = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket))) {
                    java.nio.ByteBuffer out = java.nio.ByteBuffer.allocate(DoorbellServer.HELLO_BYTES + 3).order(java.nio.ByteOrder.LITTLE_ENDIAN);
                    out.putLong(hello[0]).putInt((int) hello[1]).putInt(0).put(new byte[] {1, 1, 1}).flip(); // rings that must not be served
                    stranger.write(out); // one write: the sidecar may close as soon as it has read the hello
                    assertThat(closedByPeer(stranger)).as("the sidecar closes a refused doorbell").isTrue();
                }
            }
            try (java.nio.channels.SocketChannel half = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(socket))) {
                half.write(java.nio.ByteBuffer.wrap(new byte[] {7, 7, 7})); // a hello cut short, then gone
            }
            for (long at = 0; at < mem.size(); at += 4096) mem.buffer().putLong(at + 8, at);
            mem.flush();
            assertThat(mem.buffer().getLong(0)).isEqualTo(42);
            assertThat(sidecar.attachedClients()).isEqualTo(1);
        }
        byte[] agents = onAgents(b);
        java.nio.ByteBuffer view = java.nio.ByteBuffer.wrap(agents).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertThat(view.getLong(0)).isEqualTo(42);
        for (int at = 0; at < agents.length; at += 4096) assertThat(view.getLong(at + 8)).isEqualTo(at);
    }

    @Test
    void aDirectoryTooDeepForTheDoorbellSocketIsRefusedClearly() throws IOException {
        Binding b = bind("deep", MIB);
        Path deep = dir.resolve("d".repeat(60)).resolve("e".repeat(60));
        assertThatThrownBy(() -> Sidecar.start(b, options().directory(deep)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("too deep for the doorbell socket")
                .hasMessageContaining("use a shorter --shm path");
        try (Sidecar again = Sidecar.start(b, options())) { // nothing was left bound or running
            assertThat(again.reattached()).isFalse();
        }
    }

    /** True once the peer closed the connection: end of stream, or a reset when it closed with our bytes unread. */
    private static boolean closedByPeer(java.nio.channels.SocketChannel ch) {
        try {
            return ch.read(java.nio.ByteBuffer.allocate(8)) < 0;
        } catch (IOException reset) {
            return true;
        }
    }

    @Test
    void attachingWithoutASidecarSaysWhatToDo() {
        assertThatThrownBy(() -> FarMemory.attach(dir.resolve("nothing"), 100))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("no farmem sidecar serves")
                .hasMessageContaining("farmem.io/claim");
    }
}
