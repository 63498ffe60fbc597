package dev.farmem.bench.workload;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.ForwardingConnection;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.WriteBatch;
import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real transport whose requests also take their turn on one emulated link of a given rate,
 * as the client's NIC would: every READ and WRITEV holds the link for its payload bytes, in
 * arrival order, and completes no earlier than its turn ends. Loopback has bandwidth to
 * spare, so without this the cost of writing back whole pages hardly shows; with it, the
 * benchmark shows what the bytes saved are worth on a network of that speed. Benchmarks only.
 */
public final class EmulatedLink implements Transport {

    private final Transport inner;
    private final double nanosPerByte;
    private final AtomicLong linkFreeAt = new AtomicLong();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "emulated-link");
        t.setDaemon(true);
        return t;
    });

    public EmulatedLink(Transport inner, long megabitsPerSecond) {
        if (megabitsPerSecond <= 0) throw new IllegalArgumentException("link rate must be positive, got " + megabitsPerSecond + " Mb/s");
        this.inner = inner;
        this.nanosPerByte = 8_000.0 / megabitsPerSecond;
    }

    @Override
    public String name() {
        return inner.name() + "+link";
    }

    @Override
    public CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token) {
        return inner.connect(endpoint, token).thenApply(Connection::new);
    }

    @Override
    public void close() {
        timer.shutdownNow();
        inner.close();
    }

    /** Reserves the link for {@code bytes} after whatever holds it; returns when the turn ends (nanoTime). */
    private long reserve(long bytes) {
        long hold = (long) (bytes * nanosPerByte);
        for (;;) {
            long now = System.nanoTime();
            long free = linkFreeAt.get();
            long end = Math.max(now, free) + hold;
            if (linkFreeAt.compareAndSet(free, end)) return end;
        }
    }

    private <T> CompletableFuture<T> afterTurn(CompletableFuture<T> request, long bytes) {
        long turnEnds = reserve(bytes);
        return request.thenCompose(v -> {
            long wait = turnEnds - System.nanoTime();
            if (wait <= 0) return CompletableFuture.completedFuture(v);
            CompletableFuture<T> later = new CompletableFuture<>();
            timer.schedule(() -> later.complete(v), wait, TimeUnit.NANOSECONDS);
            return later;
        });
    }

    private final class Connection extends ForwardingConnection {
        Connection(MemoryNodeConnection c) {
            super(c);
        }

        @Override
        public CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst) {
            return afterTurn(delegate.read(slab, offset, dst), dst.remaining());
        }

        @Override
        public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
            return afterTurn(delegate.writev(slab, batch), batch.totalBytes());
        }
    }
}
