package dev.farmem.client.engine;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.common.binding.Binding;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Where each claim slab lives and how to reach it: one connection per memory node of the
 * binding, reads from one replica with fail-over, writes to every live replica. A replica that
 * fails once is taken out for the life of this router (it may have missed writes, so reading it
 * again could return stale data); the claim keeps working on the others.
 *
 * <p>A node that refuses the binding's token as {@code STALE_INCARNATION} restarted since the token
 * was issued: its region is new and holds none of the claim's data, so the replica is lost, exactly
 * as a node that cannot be reached, and is never read. A slab with no live replica left fails its
 * reads and writes with an error that names each replica's node and why it was lost.
 *
 * <p>A replica the binding marks {@code filling} joined to replace a lost one and is being filled by a copy: it is a
 * write target like the others (so the copy never has to bring it a write made since it joined), and never read
 * until a later binding says it is complete.
 *
 * <p>A node that refuses a request as {@code FENCED} or {@code TOKEN_EXPIRED} says this binding is no longer current
 * (a heal fenced it at a newer epoch, or its tokens ran out): from then on every write on this router fails, the one
 * refused included even when other replicas took it, because a write is acknowledged only once it is on every replica
 * of the current binding, a joining one included ({@link CurrentRouter} sends it again there). Reads go on: every
 * write acknowledged before is on every live replica of this binding.
 */
public final class ReplicaRouter implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ReplicaRouter.class);

    private final Binding binding;
    private final Transport transport;
    private final String[] nodeNames;
    /** Per node, the token its connection presented (renewed by {@link #renewTokens}). */
    private final String[] tokens;
    private final AtomicReferenceArray<MemoryNodeConnection> connections;
    /** Per claim slab: node index and remote slab of each replica. */
    private final int[][] slabNodes;
    private final int[][] slabRemote;
    /** Per claim slab and replica: a replica still being filled, written to and never read. */
    private final boolean[][] slabFilling;
    private final LongAdder replicaFailures;
    private final AtomicIntegerArray failed;
    /** Per node, why it was taken out (the first failure), for errors about slabs with no replica left. */
    private final AtomicReferenceArray<Throwable> lostBecause;
    private final long timeoutMillis;
    /** The first refusal of this binding as outdated: every write fails with it from then on. */
    private volatile TransportException outdated;

    public ReplicaRouter(Binding binding, Transport transport, LongAdder replicaFailures, long timeoutMillis) {
        this(binding, transport, replicaFailures, timeoutMillis, null);
    }

    /**
     * A router for {@code binding} that follows {@code previous}, the router of an earlier binding of the same claim: a node
     * {@code previous} took out for a failure of its own (unreachable, restarted, timed out; not a refusal of an outdated
     * binding) stays out when the new binding names it at the same endpoint, since it may have missed writes the other
     * replicas acknowledged; it is not dialled again.
     */
    public ReplicaRouter(Binding binding, Transport transport, LongAdder replicaFailures, long timeoutMillis, ReplicaRouter previous) {
        this.binding = binding;
        this.transport = transport;
        this.replicaFailures = replicaFailures;
        this.timeoutMillis = timeoutMillis;
        this.nodeNames = binding.nodes().keySet().toArray(new String[0]);
        this.tokens = new String[nodeNames.length];
        for (int i = 0; i < nodeNames.length; i++) tokens[i] = binding.nodes().get(nodeNames[i]).token();
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < nodeNames.length; i++) index.put(nodeNames[i], i);
        int slabs = Math.toIntExact(binding.slabCount());
        slabNodes = new int[slabs][];
        slabRemote = new int[slabs][];
        slabFilling = new boolean[slabs][];
        for (Binding.Extent e : binding.extents()) {
            for (int k = 0; k < e.count(); k++) {
                int s = Math.toIntExact(e.firstSlab() + k);
                int n = e.replicas().size();
                slabNodes[s] = new int[n];
                slabRemote[s] = new int[n];
                slabFilling[s] = new boolean[n];
                for (int r = 0; r < n; r++) {
                    slabFilling[s][r] = e.replicas().get(r).filling();
                    slabNodes[s][r] = index.get(e.replicas().get(r).node());
                    slabRemote[s][r] = e.replicas().get(r).firstSlab() + k;
                }
            }
        }
        connections = new AtomicReferenceArray<>(nodeNames.length);
        failed = new AtomicIntegerArray(nodeNames.length);
        lostBecause = new AtomicReferenceArray<>(nodeNames.length);
        List<CompletableFuture<MemoryNodeConnection>> pending = new ArrayList<>();
        for (String name : nodeNames) {
            Binding.Node node = binding.nodes().get(name);
            Throwable lost = previous == null ? null : previous.lostOnItsOwn(name, node.endpoint());
            pending.add(lost != null ? CompletableFuture.failedFuture(lost) : transport.connect(Endpoint.parse(node.endpoint()), node.token()));
        }
        int live = 0;
        for (int i = 0; i < nodeNames.length; i++) {
            try {
                connections.set(i, pending.get(i).get(timeoutMillis, TimeUnit.MILLISECONDS));
                live++;
            } catch (Exception e) {
                fail(i, "connect", e);
            }
        }
        if (live == 0 && nodeNames.length > 0) {
            int[] all = new int[nodeNames.length];
            for (int i = 0; i < all.length; i++) all[i] = i;
            if (allRestarted(all)) {
                throw new TransportException(ErrorCode.STALE_INCARNATION, "no memory node of claim " + binding.claim() + " holds its data: "
                        + whyLost(all) + "; the claim's data is gone unless the operator re-replicated it (read the claim's status)");
            }
            throw new TransportException(ErrorCode.CONNECTION_CLOSED, "no memory node of claim " + binding.claim()
                    + " could be reached (" + whyLost(all) + "): check that the agents run and the binding is current");
        }
    }

    /** Holds this thread's requests until the scope closes, then sends them together ({@link Transport#gather}). */
    public Transport.Gather gather() {
        return transport.gather();
    }

    /**
     * Reads {@code dst.remaining()} bytes of claim slab {@code slab} at {@code offset} from one
     * live replica, trying the next on failure. Fails when every replica failed.
     */
    public CompletableFuture<Void> read(long slab, long offset, ByteBuffer dst) {
        int s = (int) slab;
        int n = slabNodes[s].length;
        return readFrom(s, offset, dst, (int) (slab % n), 0, null);
    }

    private CompletableFuture<Void> readFrom(int s, long offset, ByteBuffer dst, int first, int tried, Throwable last) {
        int n = slabNodes[s].length;
        for (int t = tried; t < n; t++) {
            int r = (first + t) % n;
            if (slabFilling[s][r]) continue;
            int node = slabNodes[s][r];
            MemoryNodeConnection c = connections.get(node);
            if (c == null) continue;
            int next = t + 1;
            CompletableFuture<Void> result = new CompletableFuture<>();
            c.read(slabRemote[s][r], offset, dst).whenComplete((ok, err) -> {
                if (err == null) {
                    result.complete(null);
                } else {
                    fail(node, "read", err);
                    readFrom(s, offset, dst, first, next, err).whenComplete((ok2, err2) -> {
                        if (err2 == null) result.complete(null); else result.completeExceptionally(err2);
                    });
                }
            });
            return result;
        }
        return CompletableFuture.failedFuture(noReplicaLeft(s, "read", last));
    }

    /**
     * Writes the batch to every live replica of claim slab {@code slab}, one WRITEV each. Completes
     * when all of them acknowledged; a replica that fails is counted and dropped, and the write
     * completes on the others; it fails only when no replica took it.
     *
     * <p>{@code sourcesReleased} runs once every replica's transport is done reading the batch's sources
     * ({@link MemoryNodeConnection#writev(int, WriteBatch, Runnable)}): over TCP before this returns, over RDMA from
     * registered cache frames when the last replica's WRITE completed. Only then may the caller reuse the frames.
     */
    public CompletableFuture<Void> writev(long slab, WriteBatch batch, Runnable sourcesReleased) {
        int s = (int) slab;
        int n = slabNodes[s].length;
        AtomicInteger reading = new AtomicInteger(1); // this call, then each replica's transport until it let go
        Runnable released = () -> {
            if (reading.decrementAndGet() == 0) sourcesReleased.run();
        };
        CompletableFuture<Void> result = new CompletableFuture<>();
        AtomicInteger remaining = new AtomicInteger(1);
        TransportException refused = outdated;
        if (refused != null) {
            sourcesReleased.run(); // handed to no transport
            return CompletableFuture.failedFuture(refused);
        }
        AtomicInteger succeeded = new AtomicInteger();
        Throwable[] lastError = new Throwable[1];
        Runnable done = () -> {
            if (remaining.decrementAndGet() > 0) return;
            TransportException o = outdated;
            if (o != null) result.completeExceptionally(o);
            else if (succeeded.get() > 0) result.complete(null);
            else result.completeExceptionally(noReplicaLeft(s, "write-back", lastError[0]));
        };
        for (int r = 0; r < n; r++) {
            int node = slabNodes[s][r];
            MemoryNodeConnection c = connections.get(node);
            if (c == null) continue;
            remaining.incrementAndGet();
            reading.incrementAndGet();
            CompletableFuture<Void> f;
            try {
                f = c.writev(slabRemote[s][r], batch, released);
            } catch (RuntimeException e) {
                f = CompletableFuture.failedFuture(e); // the default writev released the sources on its way out
            }
            f.whenComplete((ok, err) -> {
                if (err == null) {
                    succeeded.incrementAndGet();
                } else {
                    synchronized (lastError) { lastError[0] = err; }
                    fail(node, "write", err);
                }
                done.run();
            });
        }
        released.run();
        done.run();
        return result;
    }

    /**
     * Presents renewed tokens: when {@code renewed} is this router's attach with new tokens (same claim uid, epoch, extents,
     * nodes and endpoints), each live node gets a new connection with its new token, which takes the old one's place; the
     * old one closes once every request it carries has finished or timed out (twice the request timeout), so no request
     * in flight fails. The old tokens still have half their life then. A node that refuses its new token keeps its old
     * connection (it works until the old token expires) and the refusal is logged. A replica already taken out stays out.
     *
     * @return false, changing nothing, when {@code renewed} is not a renewal of this attach (it needs a new router)
     */
    public synchronized boolean renewTokens(Binding renewed) {
        if (!sameAttachExceptTokens(renewed)) return false;
        for (int i = 0; i < nodeNames.length; i++) {
            Binding.Node fresh = renewed.nodes().get(nodeNames[i]);
            if (connections.get(i) == null || fresh.token().equals(tokens[i])) continue;
            MemoryNodeConnection next;
            try {
                next = transport.connect(Endpoint.parse(fresh.endpoint()), fresh.token()).get(timeoutMillis, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return true;
            } catch (Exception e) {
                LOG.warn("memory node {} of claim {} refused the renewed token, the old one is used until it expires: {}", nodeNames[i],
                        binding.claim(), unwrap(e).getMessage());
                continue;
            }
            MemoryNodeConnection old = connections.get(i);
            if (old == null || !connections.compareAndSet(i, old, next)) {
                next.close(); // the replica failed meanwhile: it stays out
                continue;
            }
            tokens[i] = fresh.token();
            CompletableFuture.delayedExecutor(2 * timeoutMillis, TimeUnit.MILLISECONDS).execute(() -> {
                try {
                    old.close();
                } catch (RuntimeException transportClosed) {
                    // The transport was closed first (the far memory closed): the connection went with it.
                }
            });
        }
        return true;
    }

    /** The binding this router was built for (its tokens may have been renewed since). */
    public Binding binding() {
        return binding;
    }

    /** True when a node refused this binding as outdated ({@code FENCED}, {@code TOKEN_EXPIRED}): renewed tokens cannot bring it back. */
    public boolean refusedAsOutdated() {
        return outdated != null;
    }

    /** Why node {@code name} at {@code endpoint} was taken out for a failure of its own, or null (live, elsewhere, or only refused this binding). */
    private Throwable lostOnItsOwn(String name, String endpoint) {
        for (int i = 0; i < nodeNames.length; i++) {
            if (!nodeNames[i].equals(name) || !binding.nodes().get(name).endpoint().equals(endpoint)) continue;
            Throwable why = lostBecause.get(i);
            return why == null || refusesThisBinding(why) ? null : why;
        }
        return null;
    }

    /** A refusal that a newer binding of the claim answers: the attach was fenced at a newer epoch, or its token expired. */
    static boolean refusesThisBinding(Throwable t) {
        return t instanceof TransportException te && (te.code() == ErrorCode.FENCED || te.code() == ErrorCode.TOKEN_EXPIRED);
    }

    /** Whether {@code other} binds what this router serves, apart from the tokens. */
    private boolean sameAttachExceptTokens(Binding other) {
        if (!binding.claimUid().equals(other.claimUid()) || binding.epoch() != other.epoch() || !binding.extents().equals(other.extents())
                || !binding.nodes().keySet().equals(other.nodes().keySet()) || !BoundTransports.name(binding).equals(BoundTransports.name(other))) {
            return false;
        }
        for (String n : nodeNames) {
            if (!binding.nodes().get(n).endpoint().equals(other.nodes().get(n).endpoint())) return false;
        }
        return true;
    }

    private void fail(int node, String what, Throwable err) {
        Throwable why = unwrap(err);
        if (outdated == null && refusesThisBinding(why)) {
            outdated = new TransportException(((TransportException) why).code(), "memory node " + nodeNames[node] + " refused a " + what + " of claim "
                    + binding.claim() + " at epoch " + binding.epoch() + " (" + why.getMessage() + "): this binding is no longer current, and a"
                    + " write is acknowledged only once every replica of a newer one has it", why);
        }
        replicaFailures.increment();
        failed.set(node, 1);
        lostBecause.compareAndSet(node, null, unwrap(err));
        MemoryNodeConnection c = connections.getAndSet(node, null);
        if (c != null) {
            LOG.warn("memory node {} of claim {} failed a {} and is no longer used: {}", nodeNames[node], binding.claim(), what,
                    err.getMessage());
            c.close();
        } else if (restarted(unwrap(err))) {
            LOG.warn("memory node {} of claim {} restarted since the binding was issued, and its new region holds none of the claim's data:"
                    + " its replica is lost ({})", nodeNames[node], binding.claim(), unwrap(err).getMessage());
        } else if (what.equals("connect")) {
            LOG.warn("memory node {} of claim {} cannot be reached: {}", nodeNames[node], binding.claim(), err.getMessage());
        }
    }

    /** The error of a read or write-back of slab {@code s} when none of its replicas is left. */
    private TransportException noReplicaLeft(int s, String what, Throwable last) {
        int[] nodes = slabNodes[s];
        ErrorCode code = allRestarted(nodes) ? ErrorCode.STALE_INCARNATION : ErrorCode.CONNECTION_CLOSED;
        List<String> filling = new ArrayList<>();
        for (int r = 0; r < nodes.length; r++) if (slabFilling[s][r] && what.equals("read")) filling.add(nodeNames[nodes[r]]);
        return new TransportException(code, "slab " + s + " of claim " + binding.claim() + " has no live replica left for the " + what + " ("
                + whyLost(nodes) + (filling.isEmpty() ? "" : "; " + String.join(", ", filling) + " still being filled by a copy, not readable") + ")" + (code == ErrorCode.STALE_INCARNATION
                ? ": its data is gone unless the operator re-replicated it (read the claim's status)" : ""), last);
    }

    /** True when every one of these nodes was lost because it restarted (a new incarnation refused the token). */
    private boolean allRestarted(int[] nodes) {
        for (int n : nodes) if (!restarted(lostBecause.get(n))) return false;
        return true;
    }

    /** "node: why" for each node, once each. */
    private String whyLost(int[] nodes) {
        List<String> out = new ArrayList<>();
        Set<Integer> seen = new HashSet<>();
        for (int n : nodes) {
            if (!seen.add(n)) continue;
            Throwable why = lostBecause.get(n);
            out.add(nodeNames[n] + (why == null ? " is live" : restarted(why) ? " restarted (a new incarnation, without the claim's data)"
                    : " failed: " + why.getMessage()));
        }
        return String.join("; ", out);
    }

    private static boolean restarted(Throwable t) {
        return t instanceof TransportException te && te.code() == ErrorCode.STALE_INCARNATION;
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** Names of the memory nodes that failed and are no longer used. */
    public List<String> failedNodes() {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < nodeNames.length; i++) if (failed.get(i) != 0) out.add(nodeNames[i]);
        return out;
    }

    public long timeoutMillis() {
        return timeoutMillis;
    }

    @Override
    public void close() {
        for (int i = 0; i < nodeNames.length; i++) {
            MemoryNodeConnection c = connections.getAndSet(i, null);
            if (c != null) c.close();
        }
    }
}
