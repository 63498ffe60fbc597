package dev.farmem.agent.copy;

import dev.farmem.agent.region.SlabStore;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.CopyState;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One copy: fills {@code count} joining slabs of this node from a source agent, pulled over TCP in chunks of
 * {@value #CHUNK} bytes with at most {@value #IN_FLIGHT} READs out. Its HELLO on the source, at the copy's epoch,
 * fences the clients still on the binding before the join: they re-read it and write to the new replica too before
 * their next write lands. A chunk whose lines are all present (written by clients since the join, or filled by an
 * earlier run) is not read; a chunk read is filled in only where no client wrote since ({@link SlabStore#fill}), so
 * the copy never overwrites an acknowledged write.
 */
final class SlabCopy implements Runnable {

    private static final Logger LOG = LoggerFactory.getLogger(SlabCopy.class);
    static final int CHUNK = 256 * 1024;
    static final int IN_FLIGHT = 4;
    private static final long TIMEOUT_SECONDS = 30;

    private final SlabStore store;
    private final CopyMetrics metrics;
    private final String claimUid;
    private final long epoch;
    private final int slab;
    private final int sourceSlab;
    private final int count;
    private final Endpoint source;
    private final String sourceToken;
    private final AtomicLong copied = new AtomicLong();
    private volatile CopyState state = CopyState.RUNNING;
    private volatile String failure = "";
    private volatile boolean failureReported;

    SlabCopy(SlabStore store, CopyMetrics metrics, String claimUid, long epoch, int slab, int sourceSlab, int count, Endpoint source, String sourceToken) {
        this.store = store;
        this.metrics = metrics;
        this.claimUid = claimUid;
        this.epoch = epoch;
        this.slab = slab;
        this.sourceSlab = sourceSlab;
        this.count = count;
        this.source = source;
        this.sourceToken = sourceToken;
    }

    CopyState state() {
        return state;
    }

    long bytesToGo() {
        long total = 0;
        for (int s = slab; s < slab + count; s++) total += store.bytesToFill(s);
        return total;
    }

    boolean failureReported() {
        return failureReported;
    }

    CopyOk progress(long requestId) {
        long toGo = bytesToGo();
        CopyState now = state;
        if (now == CopyState.FAILED) failureReported = true;
        // The slabs may be complete before the thread noticed (clients wrote every line).
        if (toGo == 0 && now == CopyState.RUNNING) now = CopyState.DONE;
        return new CopyOk(requestId, now, copied.get(), toGo, now == CopyState.FAILED ? failure : "");
    }

    @Override
    public void run() {
        metrics.started();
        long chunk = Math.min(CHUNK, store.slabSize());
        try (NettyTransport transport = new NettyTransport(TcpOptions.defaults().withIoThreads(1))) {
            MemoryNodeConnection from = transport.connect(source, sourceToken).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            ArrayDeque<Pending> inFlight = new ArrayDeque<>();
            for (int i = 0; i < count; i++) {
                for (long offset = 0; offset < store.slabSize(); offset += chunk) {
                    if (store.present(slab + i, offset, (int) chunk)) continue;
                    ByteBuffer buf = ByteBuffer.allocate((int) chunk);
                    inFlight.add(new Pending(slab + i, offset, buf, from.read(sourceSlab + i, offset, buf)));
                    if (inFlight.size() >= IN_FLIGHT) fill(inFlight.poll());
                }
            }
            while (!inFlight.isEmpty()) fill(inFlight.poll());
            from.close();
            long left = bytesToGo();
            if (left != 0) throw new IllegalStateException(left + " bytes are still missing after a full pass (the slabs changed owner?)");
            state = CopyState.DONE;
            LOG.info("copy of slabs {}..{} of claim {} (epoch {}) from {} done: {} bytes filled", slab, slab + count - 1, claimUid, epoch, source, copied.get());
        } catch (Exception e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            failure = "copy from " + source + " failed: " + (cause instanceof TransportException ? cause.getMessage() : cause.toString())
                    + "; sending COPY again resumes it";
            state = CopyState.FAILED;
            metrics.failed();
            LOG.warn("copy of slabs {}..{} of claim {} (epoch {}): {}", slab, slab + count - 1, claimUid, epoch, failure);
        }
    }

    private record Pending(int slab, long offset, ByteBuffer buf, CompletableFuture<Void> read) {}

    private void fill(Pending p) throws Exception {
        p.read().get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        long filled = store.fill(p.slab(), p.offset(), p.buf().clear(), claimUid, epoch);
        copied.addAndGet(filled);
        metrics.copied(filled);
    }
}
