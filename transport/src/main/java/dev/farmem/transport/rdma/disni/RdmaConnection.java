package dev.farmem.transport.rdma.disni;

import com.ibm.disni.util.MemoryUtils;
import com.ibm.disni.verbs.IbvCQ;
import com.ibm.disni.verbs.IbvMr;
import com.ibm.disni.verbs.IbvSendWR;
import com.ibm.disni.verbs.IbvWC;
import com.ibm.disni.verbs.SVCPollCq;
import com.ibm.disni.verbs.SVCPostSend;
import com.ibm.disni.verbs.SVCReqNotify;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.rdma.RdmaOptions;
import dev.farmem.transport.rdma.RdmaProtocol;
import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * The client side of one RDMA connection to a memory node: one RC queue pair with its own completion queue and one
 * completion thread.
 *
 * <p>Data path: {@code depth} slots, each a staging buffer inside one registration plus its prebuilt stateful post
 * calls. A READ takes a slot and re-posts the slot's one {@code IBV_WR_RDMA_READ} with the new remote address, rkey,
 * length and local address. A WRITEV posts the slot's chain of {@code IBV_WR_RDMA_WRITE} of that length, only the last
 * signaled: in-order execution on one QP means its completion covers the chain; a batch longer than one chain is split
 * over several slots. Zero copy for READs: a destination inside memory registered with the transport (a client cache's
 * region, {@link #adopt}) is the work request's own scatter entry, so the NIC writes into the cache frame itself; any
 * other destination gets the slot's staging, copied out at completion. Zero copy for WRITEVs that let the transport keep
 * their sources ({@link #writev(int, WriteBatch, Runnable)}, the cache's write-back): a segment inside registered
 * memory is the WRITE's own scatter entry, and the sources are released when the chain's last, signaled WRITE
 * completes (or, if the connection fails first, once its QP is destroyed). Other segments, and every segment of the
 * two-argument {@code writev} (whose caller may reuse its buffers at return), are copied into the slot's staging before
 * they are posted. The hot path allocates only the future the SPI returns (and, with zero copy, one release counter).
 *
 * <p>Failures: a completion with a remote access error means the node revoked the slab's registration (another runtime
 * attached): that request and every later one fail with {@code FENCED}. Any other error, a timeout, a disconnect or
 * {@link #close} fails everything in flight and closes the connection (the QP is in its error state and cannot be
 * reused).
 */
final class RdmaConnection implements MemoryNodeConnection {

    private static final int POLL_BATCH = 16;
    private static final long SWEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final VarHandle FUTURE;

    static {
        try {
            FUTURE = MethodHandles.lookup().findVarHandle(Slot.class, "future", CompletableFuture.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final QpEndpoint ep;
    private final Endpoint endpoint;
    private final RdmaOptions options;
    private final long timeoutNanos;
    private final Runnable onClose;
    private final Slot[] slots;
    private final ArrayBlockingQueue<Slot> free;
    private final Map<Long, long[]> pings = new ConcurrentHashMap<>();
    private final Map<Long, CompletableFuture<Long>> pingFutures = new ConcurrentHashMap<>();
    private final AtomicLong pingIds = new AtomicLong();
    private final CompletableFuture<Void> hello = new CompletableFuture<>();
    /** Requests made on the completion thread while every slot was taken: it runs them as slots free (it must not wait). */
    private final ArrayDeque<Runnable> overflow = new ArrayDeque<>();
    private final Thread poller;
    /** Whoever polls the CQ holds this (the completion thread, or a caller polling for its own request). */
    private final AtomicBoolean polling = new AtomicBoolean();
    private volatile Thread pollingThread;
    private final AtomicInteger inFlight = new AtomicInteger();
    /** Sources of failed zero-copy WRITEs, released once the QP is destroyed (the NIC cannot read them after that). */
    private final List<Runnable> releasedAtTeardown = new ArrayList<>();
    private boolean tornDown;
    /** The registered client memory this connection reads into and writes from with no copy ({@link #adopt}). */
    private volatile Registrations.Local[] locals = new Registrations.Local[0];
    private final IbvWC[] wcs = new IbvWC[POLL_BATCH];
    private SVCPollCq poll;

    private IbvMr stagingMr;
    private ByteBuffer staging;
    private Messages messages;
    private IbvCQ cq;

    /** What the node granted: sorted slab numbers and, per index, base address, rkey and write right. */
    private volatile int[] grantSlabs = new int[0];
    private long[] grantAddrs;
    private int[] grantKeys;
    private boolean[] grantWritable;
    private long slabSize;

    private volatile TransportException closedBecause;
    private volatile TransportException disconnected;
    private volatile boolean stopping;

    RdmaConnection(QpEndpoint ep, Endpoint endpoint, RdmaOptions options, Runnable onClose) {
        this.ep = ep;
        this.endpoint = endpoint;
        this.options = options;
        this.timeoutNanos = options.requestTimeout().toNanos();
        this.onClose = onClose;
        this.slots = new Slot[options.depth()];
        this.free = new ArrayBlockingQueue<>(options.depth());
        this.poller = new Thread(this::pollLoop, "farmem-rdma-" + endpoint);
        poller.setDaemon(true);
        ep.onInit(this::init);
        // Not failed here, on the rdma_cm thread: the completion thread first drains what the CQ already holds, so
        // a request the node refused (a revoked key, after which the node drops the connection) reports FENCED.
        ep.onDisconnect(event -> disconnected = new TransportException(ErrorCode.CONNECTION_CLOSED, "memory node " + endpoint + " disconnected (" + event + ")"));
    }

    /** Runs inside DiSNI's resource allocation, once the QP exists and before the connection is up. */
    private void init(QpEndpoint e) throws IOException {
        staging = ByteBuffer.allocateDirect(options.depth() * options.slotBytes());
        stagingMr = e.getPd().regMr(staging, IbvMr.IBV_ACCESS_LOCAL_WRITE).execute().free().getMr();
        for (int i = 0; i < slots.length; i++) {
            long addr = stagingMr.getAddr() + (long) i * options.slotBytes();
            ByteBuffer buf = staging.slice(i * options.slotBytes(), options.slotBytes());
            SVCPostSend read = e.postSend(List.of(Wrs.send(i, IbvSendWR.IBV_WR_RDMA_READ, IbvSendWR.IBV_SEND_SIGNALED, addr, options.slotBytes(),
                    stagingMr.getLkey(), 0, 0)));
            slots[i] = new Slot(i, buf, addr, read, options.maxSegments());
            free.add(slots[i]);
        }
        messages = new Messages(e);
        cq = e.getCqProvider().getCQ();
        for (int i = 0; i < wcs.length; i++) wcs[i] = new IbvWC();
        poll = cq.poll(wcs, wcs.length);
    }

    /** Starts the completion thread and presents the token; completes when the node granted its slabs. */
    CompletableFuture<MemoryNodeConnection> hello(String token) {
        poller.start();
        try {
            int i = messages.takeSend(0);
            RdmaProtocol.hello(messages.sendBuffer(i), token);
            messages.post(i, messages.sendBuffer(i).position());
        } catch (TransportException e) {
            fail(e);
        } catch (IOException | InterruptedException e) {
            fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "cannot send HELLO to " + endpoint + ": " + e.getMessage(), e));
        }
        return hello.thenApply(ignored -> this);
    }

    @Override
    public CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst) {
        int length = dst.remaining();
        if (length == 0) return CompletableFuture.completedFuture(null);
        long dstAddr = dst.isDirect() ? MemoryUtils.getAddress(dst) + dst.position() : 0;
        Registrations.Local direct = dst.isDirect() ? Registrations.find(locals, dstAddr, length) : null;
        if (direct == null && length > options.slotBytes()) {
            return CompletableFuture.failedFuture(new IllegalArgumentException("READ of " + length + " bytes is above the RDMA transport's largest transfer ("
                    + options.slotBytes() + ", RdmaOptions.slotBytes) into memory not registered with the transport: split it, or register the memory"));
        }
        if (offset < 0) return CompletableFuture.failedFuture(new IllegalArgumentException("READ offset " + offset + " is negative"));
        int g = grant(slab);
        TransportException refused = check(g, slab, offset, length, false);
        if (refused != null) return CompletableFuture.failedFuture(refused);
        Slot s;
        try {
            s = acquire();
        } catch (TransportException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (s == null) return later(() -> read(slab, offset, dst));
        CompletableFuture<Void> f = new CompletableFuture<>();
        s.dst = direct != null ? null : dst;
        s.dstIndex = dst.position();
        s.length = length;
        s.isRead = true;
        s.deadline = System.nanoTime() + timeoutNanos;
        FUTURE.setVolatile(s, f);
        try {
            SVCPostSend.SendWRMod wr = s.read.getWrMod(0);
            wr.getRdmaMod().setRemote_addr(grantAddrs[g] + offset);
            wr.getRdmaMod().setRkey(grantKeys[g]);
            // Zero copy: the NIC writes straight into registered memory (a cache frame); else into the slot's staging.
            SVCPostSend.SgeMod sge = wr.getSgeMod(0);
            sge.setAddr(direct != null ? dstAddr : s.stagingAddr);
            sge.setLkey(direct != null ? direct.lkey() : stagingMr.getLkey());
            sge.setLength(length);
            s.read.execute();
        } catch (IOException e) {
            fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "posting a READ to " + endpoint + " failed: " + e.getMessage(), e));
        }
        awaitInline(f);
        return f;
    }

    /** Copied into the slots' staging before it returns, whatever the sources: the caller may reuse them at once. */
    @Override
    public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
        return write(slab, batch, null);
    }

    /** WRITEs straight from the sources that lie in registered memory; {@code sourcesReleased} runs when the NIC is done with them. */
    @Override
    public CompletableFuture<Void> writev(int slab, WriteBatch batch, Runnable sourcesReleased) {
        Release release = new Release(sourcesReleased);
        try {
            return write(slab, batch, release);
        } finally {
            release.run(); // this call's own count: the chains that read registered sources hold theirs until they complete
        }
    }

    /**
     * One chain of RDMA WRITEs per part of the batch: a part holds at most {@code maxSegments} segments (one chain in
     * one slot's share of the send queue) and at most {@code slotBytes} bytes to copy (its slot's staging). The
     * write-back hands over up to 1024 segments; a longer batch becomes several chains, each in its own slot, and the
     * batch completes when all did (a failure fails it once: the connection then fails the others).
     *
     * <p>With {@code release} null every segment is copied: the caller may reuse the sources as soon as this returns.
     * Otherwise a segment inside registered memory is written from where it lies, and its chain holds {@code release}
     * until its completion.
     */
    private CompletableFuture<Void> write(int slab, WriteBatch batch, Release release) {
        int segments = batch.size();
        if (segments == 0) return CompletableFuture.completedFuture(null);
        int g = grant(slab);
        for (int i = 0; i < segments; i++) {
            TransportException refused = check(g, slab, batch.remoteOffset(i), batch.length(i), true);
            if (refused != null) return CompletableFuture.failedFuture(refused);
            if (batch.length(i) > options.slotBytes()) {
                return CompletableFuture.failedFuture(new IllegalArgumentException("a WRITEV segment of " + batch.length(i) + " bytes is above the RDMA "
                        + "transport's largest transfer (" + options.slotBytes() + ", RdmaOptions.slotBytes): split it"));
            }
        }
        int end = partEnd(batch, 0, release);
        if (end == segments) return writeChain(slab, g, batch, 0, segments, true, release);
        int parts = 0;
        for (int from = 0; from < segments; from = partEnd(batch, from, release)) parts++;
        CompletableFuture<Void> all = new CompletableFuture<>();
        AtomicInteger remaining = new AtomicInteger(parts);
        for (int from = 0; from < segments; from = end) {
            end = partEnd(batch, from, release);
            writeChain(slab, g, batch, from, end, false, release).whenComplete((v, e) -> {
                if (e != null) all.completeExceptionally(e);
                else if (remaining.decrementAndGet() == 0) all.complete(null);
            });
        }
        return all;
    }

    /** The end of the part of {@code batch} that starts at {@code from}: one chain and one staging slot's bytes to copy. */
    private int partEnd(WriteBatch batch, int from, Release release) {
        int copied = 0;
        int i = from;
        while (i < batch.size() && i - from < options.maxSegments()) {
            int length = batch.length(i);
            boolean copy = release == null || registered(batch, i) == null;
            if (copy && i > from && copied + length > options.slotBytes()) break;
            if (copy) copied += length;
            i++;
        }
        return i;
    }

    /** The registration segment {@code i}'s source lies in, or null (heap memory, or direct memory not registered). */
    private Registrations.Local registered(WriteBatch batch, int i) {
        ByteBuffer source = batch.source(i);
        if (!source.isDirect()) return null;
        return Registrations.find(locals, MemoryUtils.getAddress(source) + batch.sourceIndex(i), batch.length(i));
    }

    /**
     * Segments {@code [from, to)} as one chain in one slot. Those written from registered memory (only with a
     * {@code release}) make the chain hold {@code release} until it completes; the others are copied into its staging now.
     */
    private CompletableFuture<Void> writeChain(int slab, int g, WriteBatch batch, int from, int to, boolean inline, Release release) {
        Slot s;
        try {
            s = acquire();
        } catch (TransportException e) {
            return CompletableFuture.failedFuture(e);
        }
        if (s == null) {
            WriteBatch copy = copyOf(batch, from, to); // the caller may reuse its buffers at return
            return later(() -> writev(slab, copy));
        }
        CompletableFuture<Void> f = new CompletableFuture<>();
        int segments = to - from;
        SVCPostSend chain = s.chain(segments, ep, stagingMr.getLkey());
        int at = 0;
        boolean zeroCopy = false;
        for (int i = 0; i < segments; i++) {
            int length = batch.length(from + i);
            Registrations.Local local = release != null ? registered(batch, from + i) : null;
            SVCPostSend.SendWRMod wr;
            try {
                wr = chain.getWrMod(i);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
            wr.getRdmaMod().setRemote_addr(grantAddrs[g] + batch.remoteOffset(from + i));
            wr.getRdmaMod().setRkey(grantKeys[g]);
            SVCPostSend.SgeMod sge = wr.getSgeMod(0);
            if (local != null) {
                // Zero copy: the NIC reads the cache frame itself, which stays the caller's to keep until the release.
                sge.setAddr(MemoryUtils.getAddress(batch.source(from + i)) + batch.sourceIndex(from + i));
                sge.setLkey(local.lkey());
                zeroCopy = true;
            } else {
                s.staging.put(at, batch.source(from + i), batch.sourceIndex(from + i), length);
                sge.setAddr(s.stagingAddr + at);
                sge.setLkey(stagingMr.getLkey());
                at += length;
            }
            sge.setLength(length);
        }
        s.release = zeroCopy ? release.hold() : null;
        s.dst = null;
        s.isRead = false;
        s.deadline = System.nanoTime() + timeoutNanos;
        FUTURE.setVolatile(s, f);
        try {
            chain.execute();
        } catch (IOException e) {
            fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "posting a WRITEV to " + endpoint + " failed: " + e.getMessage(), e));
        }
        if (inline) awaitInline(f);
        return f;
    }

    /** Registers {@code r} in this connection's protection domain (once; a no-op when it already is). */
    synchronized void adopt(Registrations.Region r) {
        for (Registrations.Local l : locals) if (l.region() == r) return;
        IbvMr mr = r.in(ep.getPd());
        if (mr == null) return;
        Registrations.Local[] next = Arrays.copyOf(locals, locals.length + 1);
        next[locals.length] = new Registrations.Local(r, r.address, r.end, mr.getLkey());
        locals = next;
    }

    /** Stops using {@code r} (its owner closes the registration once no request uses it). */
    synchronized void drop(Registrations.Region r) {
        locals = Arrays.stream(locals).filter(l -> l.region() != r).toArray(Registrations.Local[]::new);
    }

    /**
     * Queue depth 1: the caller polls the CQ for its own request, up to {@code spinNanos}, instead of waking the
     * completion thread and being woken by it (two thread hand-offs that cost more than the RDMA READ itself).
     * With more in flight the completion thread polls, and a call returns at once.
     */
    private void awaitInline(CompletableFuture<Void> f) {
        // Not from a callback of a completion this thread is handling: it holds the poll and would wait on itself.
        if (inFlight.get() != 1 || Thread.currentThread() == poller || pollingThread == Thread.currentThread()) return;
        long until = System.nanoTime() + options.spinNanos();
        while (!f.isDone() && System.nanoTime() - until < 0) {
            if (polling.compareAndSet(false, true)) {
                try {
                    drain();
                } catch (IOException | RuntimeException e) {
                    fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "polling the completion queue of " + endpoint + " failed: " + e, e));
                } finally {
                    polling.set(false);
                }
            }
            if (!f.isDone()) Thread.onSpinWait();
        }
    }

    /** Handles what the CQ holds now; the caller holds {@link #polling}, so the shared completion array is its own. */
    private int drain() throws IOException {
        if (closedBecause != null && stopping && Thread.currentThread() != poller) return 0;
        pollingThread = Thread.currentThread();
        try {
            int n = poll.execute().getPolls();
            for (int i = 0; i < n; i++) complete(wcs[i]);
            return n;
        } finally {
            pollingThread = null;
        }
    }

    @Override
    public CompletableFuture<Long> ping() {
        TransportException closed = closedBecause;
        if (closed != null) return CompletableFuture.failedFuture(closed);
        int i;
        try {
            i = messages.takeSend(Thread.currentThread() == poller ? 0 : timeoutNanos);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return CompletableFuture.failedFuture(new TransportException(ErrorCode.CONNECTION_CLOSED, "interrupted while waiting to ping " + endpoint));
        }
        if (i < 0) return CompletableFuture.failedFuture(new TransportException(ErrorCode.TIMEOUT, "no send buffer free for a ping to " + endpoint));
        long id = pingIds.incrementAndGet();
        CompletableFuture<Long> f = new CompletableFuture<>();
        pings.put(id, new long[] {System.nanoTime(), System.nanoTime() + timeoutNanos});
        pingFutures.put(id, f);
        RdmaProtocol.ping(messages.sendBuffer(i), RdmaProtocol.PING, id);
        try {
            messages.post(i, RdmaProtocol.HEADER + 8);
        } catch (IOException e) {
            fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "posting a PING to " + endpoint + " failed: " + e.getMessage(), e));
        }
        if (closedBecause != null) failPings(closedBecause);
        return f;
    }

    @Override
    public Endpoint endpoint() {
        return endpoint;
    }

    @Override
    public boolean isOpen() {
        return closedBecause == null;
    }

    @Override
    public void close() {
        fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "connection to " + endpoint + " was closed by this client"));
        if (Thread.currentThread() != poller) {
            try {
                poller.join(TimeUnit.NANOSECONDS.toMillis(SWEEP_NANOS) * 40);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ---- slots

    private Slot acquire() {
        TransportException closed = closedBecause;
        if (closed != null) throw closed;
        Slot s = free.poll();
        if (s == null) {
            if (Thread.currentThread() == poller) return null;
            try {
                s = free.poll(timeoutNanos, TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new TransportException(ErrorCode.CONNECTION_CLOSED, "interrupted while waiting for room to send to " + endpoint);
            }
            if (s == null) {
                throw new TransportException(ErrorCode.TIMEOUT, "no room to send to " + endpoint + " within " + options.requestTimeout()
                        + ": " + options.depth() + " requests already in flight");
            }
        }
        closed = closedBecause;
        if (closed != null) {
            free.offer(s);
            throw closed;
        }
        inFlight.incrementAndGet();
        return s;
    }

    /** A request made on the completion thread with no free slot: queued, run when one frees. */
    private <T> CompletableFuture<T> later(Supplier<CompletableFuture<T>> request) {
        CompletableFuture<T> f = new CompletableFuture<>();
        overflow.add(() -> request.get().whenComplete((v, e) -> {
            if (e != null) f.completeExceptionally(e);
            else f.complete(v);
        }));
        return f;
    }

    private static WriteBatch copyOf(WriteBatch batch, int from, int to) {
        WriteBatch copy = new WriteBatch(to - from);
        for (int i = from; i < to; i++) {
            byte[] bytes = new byte[batch.length(i)];
            batch.source(i).get(batch.sourceIndex(i), bytes);
            copy.add(batch.remoteOffset(i), ByteBuffer.wrap(bytes), 0, bytes.length);
        }
        return copy;
    }

    private int grant(int slab) {
        return Arrays.binarySearch(grantSlabs, slab);
    }

    private TransportException check(int g, int slab, long offset, long length, boolean write) {
        if (g < 0) return new TransportException(ErrorCode.FORBIDDEN, "the token does not grant slab " + slab + " of " + endpoint);
        if (write && !grantWritable[g]) return new TransportException(ErrorCode.FORBIDDEN, "the token grants slab " + slab + " read-only");
        if (offset < 0 || offset > slabSize - length) {
            return new TransportException(ErrorCode.OUT_OF_RANGE, "bytes [" + offset + ", " + (offset + length) + ") are outside slab " + slab + " of " + slabSize + " bytes");
        }
        return null;
    }

    // ---- completions

    private void pollLoop() {
        SVCReqNotify notify = null;
        try {
            notify = cq.reqNotification(false);
            long lastWork = System.nanoTime();
            long nextSweep = lastWork + SWEEP_NANOS;
            while (!stopping) {
                int n = -1; // -1: a caller is polling
                if (polling.compareAndSet(false, true)) {
                    try {
                        n = drain();
                    } finally {
                        polling.set(false);
                    }
                }
                if (n > 0) {
                    runOverflow();
                    lastWork = System.nanoTime();
                    continue;
                }
                TransportException gone = disconnected;
                if (gone != null && n == 0) {
                    // The CQ was just found empty: everything the node answered before it left has been handled.
                    fail(gone);
                    break;
                }
                long now = System.nanoTime();
                if (now >= nextSweep) {
                    sweep(now);
                    nextSweep = now + SWEEP_NANOS;
                }
                // Spin only while several requests are out: one alone is polled by its caller (awaitInline).
                if (inFlight.get() > 1 && now - lastWork < options.spinNanos()) {
                    Thread.onSpinWait();
                    continue;
                }
                // Sleep on the completion channel: arm it, look once more (a completion may have come in between), wait.
                notify.execute();
                n = 0;
                if (polling.compareAndSet(false, true)) {
                    try {
                        n = drain();
                    } finally {
                        polling.set(false);
                    }
                }
                if (n > 0) {
                    runOverflow();
                } else if (cq.getChannel().getCqEvent(cq, (int) TimeUnit.NANOSECONDS.toMillis(SWEEP_NANOS))) {
                    cq.ackEvents(1);
                }
                lastWork = System.nanoTime();
            }
        } catch (IOException | RuntimeException e) {
            fail(new TransportException(ErrorCode.CONNECTION_CLOSED, "the completion queue of " + endpoint + " failed: " + e, e));
        } finally {
            if (notify != null) notify.free();
            // A caller may still be polling inline: wait for it before the CQ goes.
            while (!polling.compareAndSet(false, true)) Thread.onSpinWait();
            if (poll != null) poll.free();
            teardown();
        }
    }

    private void complete(IbvWC wc) throws IOException {
        long id = wc.getWr_id();
        int status = wc.getStatus();
        boolean ok = status == IbvWC.IbvWcStatus.IBV_WC_SUCCESS.ordinal();
        if (Messages.isReceive(id)) {
            if (!ok) {
                if (status != IbvWC.IbvWcStatus.IBV_WC_WR_FLUSH_ERR.ordinal()) fail(failure(status, "a receive"));
                return;
            }
            message(messages.received(id), wc.getByte_len());
            if (closedBecause == null) messages.repost(id);
        } else if (Messages.isSend(id)) {
            messages.sent(id);
            if (!ok && status != IbvWC.IbvWcStatus.IBV_WC_WR_FLUSH_ERR.ordinal()) fail(failure(status, "a SEND"));
        } else if (id >= 0 && id < slots.length) {
            Slot s = slots[(int) id];
            @SuppressWarnings("unchecked")
            CompletableFuture<Void> f = (CompletableFuture<Void>) FUTURE.getAndSet(s, null);
            if (f == null) return; // already failed (closed), or an earlier failed WRITE of the same chain
            if (ok) {
                if (s.isRead && s.dst != null) s.dst.put(s.dstIndex, s.staging, 0, s.length); // staged, not zero copy
                Runnable sources = s.release; // the last WRITE of the chain completed: the NIC has read every source
                s.release = null;
                release(s);
                if (sources != null) sources.run();
                f.complete(null);
            } else {
                TransportException why = failure(status, s.isRead ? "a READ" : "a WRITEV");
                releaseAtTeardown(s);
                release(s);
                f.completeExceptionally(why);
                fail(why);
            }
        }
    }

    /** What a failed completion means: a remote access error is a revoked key (FENCED), anything else a broken connection. */
    private TransportException failure(int status, String what) {
        String name = IbvWC.IbvWcStatus.valueOf(status) != null ? IbvWC.IbvWcStatus.valueOf(status).name() : "status " + status;
        if (status == IbvWC.IbvWcStatus.IBV_WC_REM_ACCESS_ERR.ordinal()) {
            return new TransportException(ErrorCode.FENCED, "memory node " + endpoint + " refused " + what + " (" + name
                    + "): it revoked the slab's key because another runtime attached since; re-read the binding");
        }
        return new TransportException(ErrorCode.CONNECTION_CLOSED, what + " to memory node " + endpoint + " failed (" + name + ")");
    }

    private void message(ByteBuffer b, int length) {
        short type;
        try {
            type = RdmaProtocol.type(b, length);
        } catch (TransportException e) {
            fail(e);
            return;
        }
        switch (type) {
            case RdmaProtocol.HELLO_OK -> granted(b, length);
            case RdmaProtocol.ERROR -> {
                TransportException e = RdmaProtocol.error(b, length);
                hello.completeExceptionally(e);
                fail(e);
            }
            case RdmaProtocol.PONG -> {
                long id = RdmaProtocol.pingId(b);
                long[] times = pings.remove(id);
                CompletableFuture<Long> f = pingFutures.remove(id);
                if (f != null && times != null) f.complete(System.nanoTime() - times[0]);
            }
            default -> fail(new TransportException(ErrorCode.BAD_FRAME, "memory node " + endpoint + " sent message type " + type));
        }
    }

    private void granted(ByteBuffer b, int length) {
        RdmaProtocol.Grant[] grants;
        try {
            grants = RdmaProtocol.grants(b, length);
        } catch (TransportException e) {
            hello.completeExceptionally(e);
            fail(e);
            return;
        }
        Arrays.sort(grants, (x, y) -> Integer.compare(x.slab(), y.slab()));
        int[] slabsGranted = new int[grants.length];
        long[] addrs = new long[grants.length];
        int[] keys = new int[grants.length];
        boolean[] writable = new boolean[grants.length];
        for (int i = 0; i < grants.length; i++) {
            slabsGranted[i] = grants[i].slab();
            addrs[i] = grants[i].address();
            keys[i] = grants[i].rkey();
            writable[i] = grants[i].writable();
        }
        slabSize = RdmaProtocol.slabSize(b);
        grantAddrs = addrs;
        grantKeys = keys;
        grantWritable = writable;
        grantSlabs = slabsGranted; // volatile: publishes the arrays above
        hello.complete(null);
    }

    private void runOverflow() {
        while (!overflow.isEmpty() && (!free.isEmpty() || closedBecause != null)) overflow.poll().run();
    }

    private void sweep(long now) {
        for (Slot s : slots) {
            if (FUTURE.getVolatile(s) != null && now - s.deadline > 0) {
                fail(new TransportException(ErrorCode.TIMEOUT, "no completion from " + endpoint + " within " + options.requestTimeout()
                        + "; the connection is closed (its buffers may still be written)"));
                return;
            }
        }
        for (Map.Entry<Long, long[]> e : pings.entrySet()) {
            if (now - e.getValue()[1] > 0 && pings.remove(e.getKey()) != null) {
                CompletableFuture<Long> f = pingFutures.remove(e.getKey());
                if (f != null) f.completeExceptionally(new TransportException(ErrorCode.TIMEOUT, "no PONG from " + endpoint + " within " + options.requestTimeout()));
            }
        }
    }

    // ---- closing

    /** Fails every pending request with {@code why} (the first cause wins) and stops the completion thread. */
    private void fail(TransportException why) {
        synchronized (this) {
            if (closedBecause == null) closedBecause = why;
        }
        TransportException cause = closedBecause;
        hello.completeExceptionally(cause);
        for (Slot s : slots) {
            if (s == null) continue;
            @SuppressWarnings("unchecked")
            CompletableFuture<Void> f = (CompletableFuture<Void>) FUTURE.getAndSet(s, null);
            if (f != null) {
                releaseAtTeardown(s);
                release(s);
                f.completeExceptionally(cause);
            }
        }
        failPings(cause);
        stopping = true;
        if (Thread.currentThread() == poller) runOverflow();
    }

    private void failPings(TransportException cause) {
        for (Long id : new ArrayList<>(pingFutures.keySet())) {
            CompletableFuture<Long> f = pingFutures.remove(id);
            pings.remove(id);
            if (f != null) f.completeExceptionally(cause);
        }
    }

    /**
     * A failed slot's zero-copy sources: the NIC may still read them (a timed-out WRITE) until the QP is destroyed, so they
     * are released in {@link #teardown}, or now if that already happened.
     */
    private void releaseAtTeardown(Slot s) {
        Runnable sources = s.release;
        s.release = null;
        if (sources == null) return;
        synchronized (releasedAtTeardown) {
            if (!tornDown) {
                releasedAtTeardown.add(sources);
                return;
            }
        }
        sources.run();
    }

    private void release(Slot s) {
        s.dst = null;
        inFlight.decrementAndGet();
        free.offer(s);
    }

    /** On the completion thread as it exits: nothing polls the CQ any more, so the QP and memory can go. */
    private void teardown() {
        try {
            ep.close();
        } catch (IOException | InterruptedException | RuntimeException e) {
            // the peer may be gone already; what remains goes with the process
        }
        try {
            if (cq != null) {
                cq.destroyCQ();
                cq.getChannel().destroyCompChannel();
            }
        } catch (IOException | RuntimeException e) {
            // as above
        }
        List<Runnable> sources;
        synchronized (releasedAtTeardown) {
            tornDown = true;
            sources = new ArrayList<>(releasedAtTeardown);
            releasedAtTeardown.clear();
        }
        for (Runnable r : sources) r.run(); // the QP is gone: nothing reads them any more
        for (Slot s : slots) if (s != null) s.free();
        if (messages != null) messages.close();
        try {
            if (stagingMr != null) stagingMr.deregMr().execute().free();
        } catch (IOException e) {
            // as above
        }
        onClose.run();
    }

    /** Runs the caller's release once every holder (the call itself, then each zero-copy chain) let go. */
    private static final class Release implements Runnable {
        private final Runnable sourcesReleased;
        private final AtomicInteger holders = new AtomicInteger(1);

        Release(Runnable sourcesReleased) {
            this.sourcesReleased = sourcesReleased;
        }

        Runnable hold() {
            holders.incrementAndGet();
            return this;
        }

        @Override
        public void run() {
            if (holders.decrementAndGet() == 0) sourcesReleased.run();
        }
    }

    /** One request's staging buffer and its prebuilt post calls. */
    private static final class Slot {
        final int index;
        final ByteBuffer staging;
        final long stagingAddr;
        final SVCPostSend read;
        final SVCPostSend[] chains;
        volatile CompletableFuture<Void> future;
        /** Held while the chain WRITEs from the caller's registered memory; run when the NIC is done with it. */
        Runnable release;
        ByteBuffer dst;
        int dstIndex;
        int length;
        boolean isRead;
        long deadline;

        Slot(int index, ByteBuffer staging, long stagingAddr, SVCPostSend read, int maxSegments) {
            this.index = index;
            this.staging = staging;
            this.stagingAddr = stagingAddr;
            this.read = read;
            this.chains = new SVCPostSend[maxSegments];
        }

        /** The chain of {@code n} RDMA WRITEs, only the last signaled, built on first use of that length. */
        SVCPostSend chain(int n, QpEndpoint ep, int lkey) {
            SVCPostSend c = chains[n - 1];
            if (c != null) return c;
            List<IbvSendWR> wrs = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                wrs.add(Wrs.send(index, IbvSendWR.IBV_WR_RDMA_WRITE, i == n - 1 ? IbvSendWR.IBV_SEND_SIGNALED : 0, stagingAddr, 0, lkey, 0, 0));
            }
            try {
                c = ep.postSend(wrs);
            } catch (IOException e) {
                throw new TransportException(ErrorCode.CONNECTION_CLOSED, "cannot build a WRITE chain: " + e.getMessage(), e);
            }
            chains[n - 1] = c;
            return c;
        }

        void free() {
            read.free();
            for (SVCPostSend c : chains) if (c != null) c.free();
        }
    }
}
