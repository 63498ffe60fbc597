package dev.farmem.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.agent.EmbeddedPool;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.tcp.NettyTransport;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tokens are short-lived and renewed through the binding file (the mounted Secret) at half their life: an in-process far
 * memory under load moves to each renewed token on new connections, and no request fails, no replica is dropped and
 * every write reads back, long after the token it opened with expired.
 */
class TokenRenewalTest {

    private static final long MIB = 1 << 20;
    private static final Duration LIFE = Duration.ofSeconds(12);
    /** Renewed every third of their life (the operator renews between one half and three quarters of it): the client has two thirds to pick each up, on a loaded machine. */
    private static final Duration EVERY = Duration.ofSeconds(4);
    private static final int RENEWALS = 4;

    @Test
    void aFarMemoryUnderLoadSurvivesEveryRenewalAndOutlivesTheTokenItOpenedWith(@TempDir Path dir) throws Exception {
        try (EmbeddedPool pool = EmbeddedPool.start(2, 16 * MIB, MIB)) {
            Binding opened = pool.renew(pool.bind("renewed", 4 * MIB, 2, 4096), LIFE);
            Path file = dir.resolve("binding.json");
            write(file, opened);
            FarMemoryOptions options = FarMemoryOptions.defaults().cacheBytes(256 * 1024).bindingPollMillis(50);
            long longs = 4 * MIB / 8;
            int threads = 3;
            try (FarMemory mem = FarMemory.open(file, options)) {
                FarLongArray arr = mem.longArray(0, longs);
                AtomicBoolean stop = new AtomicBoolean();
                AtomicReference<Throwable> failure = new AtomicReference<>();
                long[] rounds = new long[threads];
                List<Thread> workers = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int me = t;
                    // Each thread owns every threads-th long of a stride, far more than the cache holds: misses and write-backs all along.
                    Thread w = new Thread(() -> {
                        try {
                            for (long round = 1; !stop.get(); round++) {
                                for (long i = me * 8L; i < longs; i += threads * 512L) {
                                    if (round > 1) assertThat(arr.get(i)).as("long %d after round %d", i, round - 1).isEqualTo(value(i, round - 1));
                                    arr.set(i, value(i, round));
                                }
                                rounds[me] = round;
                            }
                        } catch (Throwable e) {
                            failure.compareAndSet(null, e);
                        }
                    }, "load-" + t);
                    w.start();
                    workers.add(w);
                }
                Binding current = opened;
                for (int r = 0; r < RENEWALS && failure.get() == null; r++) {
                    Thread.sleep(EVERY.toMillis());
                    current = pool.renew(current, LIFE);
                    write(file, current);
                }
                stop.set(true);
                for (Thread w : workers) w.join();
                assertThat(failure.get()).as("no read or write failed across the renewals").isNull();

                mem.flush();
                for (int t = 0; t < threads; t++) {
                    for (long i = t * 8L; i < longs; i += threads * 512L) assertThat(arr.get(i)).isEqualTo(value(i, rounds[t]));
                }
                assertThat(mem.failedReplicas()).as("no replica was dropped").isEmpty();
                assertThat(mem.stats().writebackErrors()).isZero();
                assertThat(mem.stats().replicaFailures()).isZero();
            }
            // The far memory outlived the token it opened with: that one is refused now.
            Binding.Location loc = opened.locate(0).get(0);
            try (NettyTransport tcp = new NettyTransport()) {
                assertThatThrownBy(() -> tcp.connect(loc.endpoint(), opened.nodes().get(loc.node()).token()).join())
                        .isInstanceOf(CompletionException.class).cause().isInstanceOfSatisfying(TransportException.class,
                                e -> assertThat(e.code()).isEqualTo(ErrorCode.TOKEN_EXPIRED));
            }
        }
    }

    private static long value(long i, long round) {
        return i * 1_000_003L + round;
    }

    /** As the kubelet updates a mounted Secret: the new content appears at once, never half written. */
    private static void write(Path file, Binding b) throws Exception {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.writeString(tmp, b.toJson(), StandardCharsets.UTF_8);
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
