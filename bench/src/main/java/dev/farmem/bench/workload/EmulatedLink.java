package dev.farmem.bench.workload;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.ForwardingConnection;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.wire.Protocol;
import dev.farmem.transport.wire.WireCodec;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real transport whose requests also take their turn on one emulated full-duplex link of a
 * given rate, as the client's NIC would: what the client sends (requests: a WRITEV's whole frame,
 * a READ's header) holds the transmit direction from when it is sent; what it receives
 * (responses: a READ's bytes, a WRITEV's acknowledgement) holds the receive direction from when
 * the node answered, and no earlier than the request's turn ended. Every frame is counted with its
 * wire headers and the Ethernet, IPv4 and TCP overhead of its packets. A request completes when
 * its response's turn ends. Loopback has bandwidth to spare, so without this the cost of writing
 * back whole pages hardly shows; with it, the benchmark shows what the bytes saved are worth on a
 * network of that speed. Benchmarks only.
 *
 * <p>Write-backs and fetches do not share one queue: on a real full-duplex link a page written back
 * does not delay a block fetched, except where the same thread waits for both.
 */
public final class EmulatedLink implements Transport {

    /** TCP payload per packet at an MTU of 1500 (IPv4, TCP with timestamps). */
    static final int MSS = 1448;
    /**
     * Bytes a packet costs on the wire beyond its TCP payload: Ethernet header and FCS (18),
     * preamble and inter-frame gap (20), IPv4 (20), TCP with timestamps (32).
     */
    static final int PACKET_OVERHEAD = 90;

    private final Transport inner;
    private final double nanosPerByte;
    private final AtomicLong transmitFreeAt = new AtomicLong();
    private final AtomicLong receiveFreeAt = new AtomicLong();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(() -> {
            exactTimers();
            r.run();
        }, "emulated-link");
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

    /** Bytes a frame of {@code frameBytes} takes on the wire, its packets' overhead included. */
    static long onWire(long frameBytes) {
        long packets = Math.max(1, (frameBytes + MSS - 1) / MSS);
        return frameBytes + packets * PACKET_OVERHEAD;
    }

    /** Holds one direction for {@code bytes}, from {@code from} or when it is free, whichever is later; returns when the turn ends (nanoTime). */
    private long reserve(AtomicLong freeAt, long from, long bytes) {
        long hold = (long) (onWire(bytes) * nanosPerByte);
        for (;;) {
            long free = freeAt.get();
            long end = Math.max(from, free) + hold;
            if (freeAt.compareAndSet(free, end)) return end;
        }
    }

    /** The request's future, completed when the response's turn on the receive direction ends. */
    private <T> CompletableFuture<T> afterTurns(CompletableFuture<T> request, long sent, long received) {
        long sentEnds = reserve(transmitFreeAt, System.nanoTime(), sent);
        return request.thenCompose(v -> {
            long now = System.nanoTime();
            long wait = reserve(receiveFreeAt, Math.max(now, sentEnds), received) - now;
            if (wait <= 0) return CompletableFuture.completedFuture(v);
            CompletableFuture<T> later = new CompletableFuture<>();
            timer.schedule(() -> later.complete(v), wait, TimeUnit.NANOSECONDS);
            return later;
        });
    }

    /**
     * Asks Linux to wake the link's timer thread on time: a thread's default timer slack (50 us)
     * made every turn end 50 to 80 us late, longer than a 4 KiB turn at 1 Gb/s (33 us) takes, and
     * would have charged each request a latency no link has. Best effort: elsewhere the slack stays.
     */
    private static void exactTimers() {
        try {
            String tid = Files.readString(Path.of("/proc/thread-self/stat")).split(" ", 2)[0];
            Files.writeString(Path.of("/proc/" + tid + "/timerslack_ns"), "1");
        } catch (IOException | RuntimeException e) {
            // not Linux, or /proc not writable: turns end up to the default slack late
        }
    }

    private final class Connection extends ForwardingConnection {
        Connection(MemoryNodeConnection c) {
            super(c);
        }

        @Override
        public CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst) {
            int length = dst.remaining();
            return afterTurns(delegate.read(slab, offset, dst), Protocol.HEADER_SIZE + Protocol.READ_BODY, Protocol.HEADER_SIZE + (long) length);
        }

        @Override
        public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
            return afterTurns(delegate.writev(slab, batch), WireCodec.writevFrameSize(batch), Protocol.HEADER_SIZE);
        }
    }
}
