package dev.farmem.client.engine;

import dev.farmem.client.BindingWatch;
import dev.farmem.common.binding.Binding;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The router of the claim's newest binding, and the one way a far memory follows its binding, in-process and in the
 * sidecar alike: reads and writes go to the current {@link ReplicaRouter}, and a request the binding it used can no
 * longer serve is sent again on a newer one.
 *
 * <p><b>Binding changes</b> ({@link #follow(Binding)}, from the binding file's {@link BindingWatch}): renewed tokens of the
 * same attach go to the router in place ({@link ReplicaRouter#renewTokens}: new connections, no request fails). Any other
 * change of the same claim (a heal's new epoch with a joining replica, a replica made complete or dropped, an endpoint
 * that moved) gets a new router with new connections, which takes the old one's place; the old one closes two request
 * timeouts later, when nothing it carries can still be pending. A binding of another claim or geometry is refused
 * (logged once): that needs a new far memory.
 *
 * <p><b>Requests.</b> A read that no replica served, or a write that no replica took or that a replica refused as
 * outdated ({@code FENCED}, {@code TOKEN_EXPIRED}; see {@link ReplicaRouter}), is not failed at once when a binding file is
 * followed: the file is read at once, the request waits for a router newer than the one it failed on, up to the binding wait
 * ({@code FarMemoryOptions.bindingWaitMillis}) from its first failure, and is sent again there (a write then reaches every replica of the newer binding, a
 * joining one too). Only when no newer binding came in that time does it fail, naming the claim, what refused it and
 * where the binding was awaited. A write's bytes must stay as they were until its future completes ({@link CacheEngine}
 * copies the lines of a frame it reuses once sent). Without a binding file the first failure is the answer.
 *
 * <p>Threads: {@link #follow} runs on the watch's thread; a request is sent again on the common pool (never on the
 * thread that installs a router, nor on an I/O thread, since a send may wait for room on a connection).
 */
public final class CurrentRouter implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(CurrentRouter.class);

    private final String claim;
    /** Builds the router of a binding, given the router it follows (null for the first one). */
    private final RouterFactory connect;
    private final long timeoutMillis;
    /** How long a request refused on an outdated binding waits for a newer one. */
    private final long bindingWaitMillis;
    private volatile ReplicaRouter router;
    /** The binding {@link #router} serves, with the tokens last renewed. */
    private volatile Binding binding;
    /** Completed with the next router when one takes the current one's place; replaced then (see {@link #install}). */
    private volatile CompletableFuture<ReplicaRouter> next = new CompletableFuture<>();
    private volatile BindingWatch watch;
    private volatile Path followed;
    private volatile boolean closed;
    /** A binding of another claim, refused and logged once; on the watch's thread only. */
    private Binding refused;
    /** A binding none of whose nodes could be reached, logged once and tried again at every poll; on the watch's thread only. */
    private Binding unreachable;

    /** How to build the router of {@code binding}, following {@code previous} (null at the start). */
    @FunctionalInterface
    public interface RouterFactory {
        ReplicaRouter connect(Binding binding, ReplicaRouter previous);
    }

    /** Connects {@code binding} now (failing as {@link ReplicaRouter}'s constructor does) and serves it until a newer one is followed. */
    public CurrentRouter(Binding binding, RouterFactory connect, long timeoutMillis, long bindingWaitMillis) {
        this.claim = binding.claim();
        this.connect = connect;
        this.timeoutMillis = timeoutMillis;
        this.bindingWaitMillis = bindingWaitMillis;
        this.binding = binding;
        this.router = connect.connect(binding, null);
    }

    /**
     * Reads {@code bindingFile} (the mounted binding Secret) every {@code pollMillis}, and at once when a request found its
     * binding outdated, and follows every binding it holds. Once per router.
     */
    public synchronized void follow(Path bindingFile, long pollMillis) {
        if (watch != null) throw new IllegalStateException("claim " + claim + " already follows " + followed);
        this.followed = bindingFile;
        this.watch = new BindingWatch(bindingFile, "farmem-binding-" + claim, pollMillis, this::follow);
    }

    /**
     * Moves to {@code fresh} when it is a newer binding of this claim (see the class comment); a binding equal to the current
     * one changes nothing. Called on the watch's thread, one binding at a time.
     */
    public void follow(Binding fresh) {
        Binding now = binding;
        if (closed || fresh.equals(now) || fresh.equals(refused)) return;
        if (!Objects.equals(fresh.claimUid(), now.claimUid()) || fresh.sizeBytes() != now.sizeBytes() || fresh.blockSize() != now.blockSize()
                || fresh.slabSize() != now.slabSize()) {
            refused = fresh;
            LOG.error("binding {} now describes another claim ({} uid {}, {} bytes): this far memory keeps serving claim {} (uid {}); open a new one "
                    + "(restart the pod, for the sidecar) to use the new claim", where(), fresh.claim(), fresh.claimUid(), fresh.sizeBytes(), claim,
                    now.claimUid());
            return;
        }
        ReplicaRouter current = router;
        if (!current.refusedAsOutdated() && current.renewTokens(fresh)) {
            // Renewed tokens of the same attach (every few minutes): new connections, the same router, no pause.
            binding = fresh;
            LOG.info("tokens of claim {} renewed", claim);
            return;
        }
        ReplicaRouter fresher;
        try {
            fresher = connect.connect(fresh, current);
        } catch (RuntimeException e) {
            if (!fresh.equals(unreachable)) {
                LOG.error("the binding of claim {} at epoch {} cannot be used yet, this far memory keeps epoch {} and tries again at the next read: {}",
                        claim, fresh.epoch(), now.epoch(), e.getMessage());
            }
            unreachable = fresh;
            return;
        }
        install(fresh, fresher);
        LOG.info("claim {} follows its binding at epoch {} ({} memory nodes{})", claim, fresh.epoch(), fresh.nodes().size(),
                filling(fresh) ? ", a replica joining" : "");
        CompletableFuture.delayedExecutor(2 * timeoutMillis, TimeUnit.MILLISECONDS).execute(() -> {
            try {
                current.close();
            } catch (RuntimeException transportClosed) {
                // The transport was closed first (the far memory closed): the connections went with it.
            }
        });
    }

    /** Publishes {@code fresher}: the router first, then the waiters, so a request that looks after this sees it either way. */
    private synchronized void install(Binding fresh, ReplicaRouter fresher) {
        router = fresher;
        binding = fresh;
        CompletableFuture<ReplicaRouter> waiting = next;
        next = new CompletableFuture<>();
        waiting.complete(fresher);
        if (closed) fresher.close();
    }

    /** Reads {@code dst.remaining()} bytes of claim slab {@code slab} at {@code offset}; see {@link ReplicaRouter#read}. */
    public CompletableFuture<Void> read(long slab, long offset, ByteBuffer dst) {
        return send(r -> r.read(slab, offset, dst), "read of claim slab " + slab);
    }

    /** Holds this thread's requests until the scope closes ({@link ReplicaRouter#gather}); every router of a far memory shares its transport. */
    public Transport.Gather gather() {
        return router.gather();
    }

    /**
     * Writes the batch to every replica of claim slab {@code slab}; see {@link ReplicaRouter#writev}. Every attempt reads
     * the same sources, so {@code sourcesReleased} runs once the write ended (no attempt follows) and the last attempt's
     * transports no longer read them (over TCP at once; over RDMA from registered frames, at the WRITE's completion).
     */
    public CompletableFuture<Void> writev(long slab, WriteBatch batch, Runnable sourcesReleased) {
        AtomicInteger reading = new AtomicInteger(1); // the write until it ended, then each attempt until its transports let go
        Runnable released = () -> {
            if (reading.decrementAndGet() == 0) sourcesReleased.run();
        };
        CompletableFuture<Void> result = send(r -> {
            reading.incrementAndGet();
            try {
                return r.writev(slab, batch, released);
            } catch (RuntimeException e) {
                released.run(); // it threw before it handed the sources to any transport
                throw e;
            }
        }, "write-back of claim slab " + slab);
        result.whenComplete((ok, err) -> released.run());
        return result;
    }

    private CompletableFuture<Void> send(Function<ReplicaRouter, CompletableFuture<Void>> request, String what) {
        ReplicaRouter r = router;
        CompletableFuture<Void> result = new CompletableFuture<>();
        attempt(r, request, what, 0, result);
        return result;
    }

    /** Sends on {@code r}; on failure, sends again on a newer router until {@code deadline} (0: not failed yet). */
    private void attempt(ReplicaRouter r, Function<ReplicaRouter, CompletableFuture<Void>> request, String what, long deadline,
                         CompletableFuture<Void> result) {
        CompletableFuture<Void> f;
        try {
            f = request.apply(r);
        } catch (RuntimeException e) {
            f = CompletableFuture.failedFuture(e);
        }
        f.whenComplete((ok, err) -> {
            if (err == null) {
                result.complete(null);
                return;
            }
            Throwable cause = unwrap(err);
            if (watch == null || closed) {
                result.completeExceptionally(cause);
                return;
            }
            long until = deadline != 0 ? deadline : System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(bindingWaitMillis);
            CompletableFuture<ReplicaRouter> waiting = next; // before looking at the router: see install
            ReplicaRouter now = router;
            if (now == r) {
                watch.pollNow();
            }
            long left = until - System.nanoTime();
            CompletableFuture<ReplicaRouter> newer = now != r ? CompletableFuture.completedFuture(now)
                    : left <= 0 ? CompletableFuture.failedFuture(new TimeoutException()) : waiting.copy().orTimeout(left, TimeUnit.NANOSECONDS);
            newer.whenCompleteAsync((fresher, waited) -> {
                if (waited == null) attempt(fresher, request, what, until, result);
                else result.completeExceptionally(noNewerBinding(what, r, cause, unwrap(waited)));
            });
        });
    }

    /** The error of a request that failed on {@code r} and found no newer router in time (or the far memory closed). */
    private RuntimeException noNewerBinding(String what, ReplicaRouter r, Throwable cause, Throwable waited) {
        String why = waited instanceof TimeoutException ? "no newer binding of the claim arrived in " + followed + " within " + bindingWaitMillis
                + " ms (a heal writes one with the new epoch: read the claim's status, and check that the binding Secret is mounted and current)"
                : "the far memory closed while it waited for a newer binding";
        String message = "the " + what + " of claim " + claim + " failed on the binding at epoch " + r.binding().epoch() + " (" + cause.getMessage()
                + ") and " + why;
        return cause instanceof TransportException te ? new TransportException(te.code(), message, cause) : new IllegalStateException(message, cause);
    }

    private static boolean filling(Binding b) {
        return b.extents().stream().anyMatch(e -> e.replicas().stream().anyMatch(Binding.Replica::filling));
    }

    private String where() {
        return followed == null ? "(given)" : followed.toString();
    }

    private static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) t = t.getCause();
        return t;
    }

    /** The binding served now (with its latest tokens). */
    public Binding binding() {
        return binding;
    }

    /** Names of the memory nodes the current router no longer uses. */
    public List<String> failedNodes() {
        return router.failedNodes();
    }

    public long timeoutMillis() {
        return timeoutMillis;
    }

    /** Stops following the binding, fails the requests waiting for a newer one and closes the connections. */
    @Override
    public void close() {
        BindingWatch w;
        synchronized (this) {
            closed = true;
            w = watch;
        }
        if (w != null) w.close(); // a router being installed finishes first
        synchronized (this) {
            next.completeExceptionally(new IllegalStateException("far memory of claim " + claim + " closed"));
            router.close();
        }
    }
}
