package dev.farmem.agent.server;

import dev.farmem.agent.copy.SlabCopies;
import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.Protocol;
import dev.farmem.transport.wire.WireFrame.HelloOk;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/**
 * What serving a client means, whatever carries its frames: verify the HELLO's token, attach
 * the slabs it names, answer with the node's limits, and check every later request against the
 * grant. The TCP handlers ({@link HelloHandler}, {@link RequestHandler}) use it; a second
 * transport (RDMA) verifies the same tokens and answers HELLO with the same grant through it.
 * Thread-safe.
 */
public final class NodeService {

    private final SlabStore store;
    private final TokenVerifier verifier;
    private final AgentMetrics metrics;
    private final int maxFrameSize;
    private final int maxSegments;
    /** One wrapper per slab, made once, to copy in and out of the region without allocating. */
    private final ByteBuf[] regionSlabs;
    /** The copies that fill this node's joining slabs (re-replication). */
    private final SlabCopies copies;

    public NodeService(SlabStore store, TokenVerifier verifier, AgentMetrics metrics, int maxFrameSize, int maxSegments) {
        this.store = store;
        this.verifier = verifier;
        this.metrics = metrics;
        this.maxFrameSize = maxFrameSize;
        this.maxSegments = maxSegments;
        this.regionSlabs = new ByteBuf[store.slabCount()];
        for (int i = 0; i < regionSlabs.length; i++) regionSlabs[i] = Unpooled.wrappedBuffer(store.slab(i).duplicate().clear());
        this.copies = new SlabCopies(store, metrics.registry());
    }

    public SlabCopies copies() {
        return copies;
    }

    public SlabStore store() {
        return store;
    }

    public AgentMetrics metrics() {
        return metrics;
    }

    public int maxFrameSize() {
        return maxFrameSize;
    }

    public int maxSegments() {
        return maxSegments;
    }

    /**
     * Checks the token's signature, node, incarnation and expiry. Cheap enough for an I/O thread.
     *
     * @throws TransportException UNAUTHENTICATED, STALE_INCARNATION or TOKEN_EXPIRED, saying why
     */
    public CapabilityToken verify(String token) {
        return verifier.verify(token, System.currentTimeMillis());
    }

    /**
     * Attaches the grant's slabs: a slab a new claim touches is zeroed (about 10 ms per 64 MiB),
     * so call this off the I/O threads.
     *
     * @throws TransportException FENCED when a slab has a newer owner; INTERNAL for anything unforeseen
     */
    public void attach(CapabilityToken grant) {
        try {
            store.attach(grant);
        } catch (TransportException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TransportException(ErrorCode.INTERNAL, "attach failed: " + e);
        }
        metrics.slabsOwned(store.ownedSlabs());
    }

    /** The answer to an accepted HELLO: this node's limits and geometry. */
    public HelloOk helloOk(long requestId) {
        return new HelloOk(requestId, Protocol.VERSION, maxFrameSize, store.slabSize(), store.slabCount(), maxSegments);
    }

    /**
     * The checks every data request passes: the token grants the slab (and writes), range, fencing. Null when allowed.
     * Expiry is not read here, per request: a TCP connection closes when its token expires ({@link HelloHandler}).
     */
    public TransportException authorize(CapabilityToken grant, int slab, long offset, int length, boolean write) {
        if (!grant.grants(slab)) {
            return new TransportException(ErrorCode.FORBIDDEN, "the token does not grant slab " + slab);
        }
        if (write && !grant.rights().canWrite()) {
            return new TransportException(ErrorCode.FORBIDDEN, "the token grants slab " + slab + (grant.rights().canRead() ? " read-only" : " for " + grant.rights() + " only"));
        }
        if (!write && !grant.rights().canRead()) {
            return new TransportException(ErrorCode.FORBIDDEN, "the token grants slab " + slab + " for " + grant.rights() + " only, not READ");
        }
        if (!write && slab >= 0 && slab < store.slabCount() && !store.complete(slab)) {
            // Its unfilled lines are zeros, not the claim's data.
            return new TransportException(ErrorCode.FORBIDDEN, "slab " + slab + " is a replica that is still being filled by a copy: read another replica");
        }
        return store.checkAccess(slab, offset, length, grant.claimUid(), grant.epoch());
    }

    /** The slab's bytes as a buffer over the region, for copies made between {@link SlabStore#beginAccess} and {@link SlabStore#endAccess}. */
    ByteBuf region(int slab) {
        return regionSlabs[slab];
    }

    /** A TransportException's message without the code its {@code getMessage()} starts with: the wire carries the code apart. */
    static String messageOf(TransportException e) {
        String m = e.getMessage();
        String prefix = e.code() + ": ";
        return m.startsWith(prefix) ? m.substring(prefix.length()) : m;
    }
}
