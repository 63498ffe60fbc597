package dev.farmem.agent.copy;

import dev.farmem.agent.region.SlabStore;
import dev.farmem.common.Endpoint;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenFormat;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.WireFrame.Copy;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.CopyState;
import io.prometheus.client.CollectorRegistry;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The copies this node runs to fill joining slabs from a source agent (re-replication), one per COPY request's
 * slab range. A COPY is idempotent: the first starts the copy, later ones report its progress, and one after a
 * failure starts it again, which resumes where it stopped (lines already present are skipped). A copy runs on one of
 * {@value #THREADS} threads of its own, never on an I/O thread. Thread-safe.
 *
 * <p>A failure (either agent went away, the source fenced the copy's token) is answered once, with the reason; the
 * next COPY restarts the copy.
 */
public final class SlabCopies {

    static final int THREADS = 2;

    private final SlabStore store;
    private final CopyMetrics metrics;
    private final ExecutorService threads = Executors.newFixedThreadPool(THREADS, r -> {
        Thread t = new Thread(r, "farmem-copy");
        t.setDaemon(true);
        return t;
    });
    private final Map<Key, SlabCopy> copies = new HashMap<>();

    private record Key(String claimUid, long epoch, int slab, int count) {}

    public SlabCopies(SlabStore store, CollectorRegistry registry) {
        this.store = store;
        this.metrics = new CopyMetrics(registry, this::bytesToGo);
    }

    /**
     * Starts, follows or restarts the copy {@code copy} asks for, under {@code grant} (the connection's token), and
     * returns its progress.
     *
     * @throws TransportException FORBIDDEN when the grant is not a COPY grant of these slabs, or the source token is
     *                            for another claim or epoch; OUT_OF_RANGE for slabs this node does not have
     */
    public synchronized CopyOk request(CapabilityToken grant, Copy copy) {
        if (grant.rights() != Rights.COPY) {
            throw new TransportException(ErrorCode.FORBIDDEN, "COPY needs a token with the COPY right, issued by the operator; this one grants "
                    + grant.rights());
        }
        if ((long) copy.slab() + copy.slabCount() > store.slabCount()) {
            throw new TransportException(ErrorCode.OUT_OF_RANGE, "COPY into slabs " + copy.slab() + ".." + (copy.slab() + copy.slabCount() - 1)
                    + " but this node has " + store.slabCount() + " slabs");
        }
        for (int s = copy.slab(); s < copy.slab() + copy.slabCount(); s++) {
            if (!grant.grants(s)) throw new TransportException(ErrorCode.FORBIDDEN, "the COPY token does not grant slab " + s);
        }
        CapabilityToken source = unverifiedGrant(copy.sourceToken());
        if (!source.claimUid().equals(grant.claimUid()) || source.epoch() != grant.epoch()) {
            throw new TransportException(ErrorCode.FORBIDDEN, "the source token is for claim " + source.claimUid() + " at epoch " + source.epoch()
                    + ", the COPY token for claim " + grant.claimUid() + " at epoch " + grant.epoch() + ": issue both for the same attach");
        }
        Endpoint from;
        try {
            from = Endpoint.parse(copy.sourceEndpoint());
        } catch (IllegalArgumentException e) {
            throw new TransportException(ErrorCode.BAD_FRAME, "COPY source endpoint '" + copy.sourceEndpoint() + "': " + e.getMessage());
        }
        Key key = new Key(grant.claimUid(), grant.epoch(), copy.slab(), copy.slabCount());
        SlabCopy c = copies.get(key);
        // A failure is answered once, so the operator sees it; the COPY after that starts the copy again.
        if (c == null || (c.state() == CopyState.FAILED && c.failureReported())) {
            // Copies of an older epoch of these slabs are over: they could only fail FENCED now.
            copies.keySet().removeIf(k -> k.claimUid().equals(key.claimUid()) && k.epoch() < key.epoch());
            c = new SlabCopy(store, metrics, grant.claimUid(), grant.epoch(), copy.slab(), copy.sourceSlab(), copy.slabCount(), from, copy.sourceToken());
            copies.put(key, c);
            threads.execute(c);
        }
        return c.progress(copy.requestId());
    }

    /** Bytes the copies this node knows still have to fill. */
    private synchronized long bytesToGo() {
        long total = 0;
        for (SlabCopy c : copies.values()) total += c.bytesToGo();
        return total;
    }

    /**
     * What a token says, without checking its signature: the source agent checks it. Used only to refuse pairing a
     * source token of another claim or epoch with this node's COPY grant.
     */
    private static CapabilityToken unverifiedGrant(String token) {
        int dot = token.indexOf('.');
        try {
            return TokenFormat.decode(Base64.getUrlDecoder().decode(dot < 0 ? token : token.substring(0, dot)));
        } catch (IllegalArgumentException e) {
            throw new TransportException(ErrorCode.FORBIDDEN, "the COPY's source token is malformed: " + e.getMessage());
        }
    }
}
