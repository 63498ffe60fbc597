package dev.farmem.agent.rdma.disni;

import com.ibm.disni.RdmaPassiveEndpointGroup;
import com.ibm.disni.RdmaServerEndpoint;
import com.ibm.disni.verbs.IbvCQ;
import com.ibm.disni.verbs.IbvWC;
import com.ibm.disni.verbs.SVCPollCq;
import com.ibm.disni.verbs.SVCReqNotify;
import dev.farmem.agent.rdma.RdmaMetrics;
import dev.farmem.agent.rdma.RdmaMetrics.Refused;
import dev.farmem.agent.rdma.RdmaService;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.agent.server.ConnectionLimits;
import dev.farmem.agent.server.TokenVerifier;
import dev.farmem.common.Endpoint;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.SlabRange;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.rdma.RdmaProtocol;
import dev.farmem.transport.rdma.disni.Messages;
import dev.farmem.transport.rdma.disni.QpEndpoint;
import dev.farmem.transport.wire.Protocol;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves a memory node's slabs over RDMA. The data path never reaches this code: clients READ and WRITE the
 * registered slabs one-sided. What it does: accept rdma_cm connections, read each client's token from its first SEND,
 * verify it and attach its slabs exactly as the TCP server does ({@link SlabStore#attach}: fences older epochs, zeroes
 * slabs a new claim touches), and answer with each granted slab's address and key; then answer PINGs. A takeover
 * revokes the slab's registration ({@link SlabStore#onTakeover}), so an older runtime's next READ or WRITE fails in its
 * NIC with a remote access error, which its transport reports as FENCED.
 *
 * <p>What one peer may cost is bounded as on TCP ({@link ConnectionLimits}): a connection has
 * {@link ConnectionLimits#helloTimeout()} to present its HELLO, at most {@link ConnectionLimits#maxUnauthenticated()}
 * connections wait for theirs at a time (more get CONNECTION_CLOSED at once), a HELLO longer than the longest token
 * is refused (and one longer than a receive buffer fails in the NIC), anything before HELLO is refused, and a
 * refused token gets the code TCP would send. Each refusal is an ERROR message, then a disconnect. The rdma_cm
 * handshake itself gets the HELLO timeout too ({@link HandshakeWatchdog}): a client that abandons it cannot hold the
 * accepting thread. A connection lives no longer than its token, as on TCP: at the token's expiry it gets an ERROR
 * TOKEN_EXPIRED and is disconnected, so its QP leaves the connected state and the client's next one-sided READ or
 * WRITE fails in its NIC.
 *
 * <p>Threads: one accepting, its watchdog, one per connection (it blocks on its completion channel: control messages
 * only).
 */
public final class RdmaAgentServer implements RdmaService {

    private static final Logger log = LoggerFactory.getLogger(RdmaAgentServer.class);
    private static final int CONNECT_TIMEOUT_MS = 10_000;
    private static final int POLL_MS = 100;
    /** The largest HELLO message: its header, the token's length and the longest token. */
    static final int HELLO_BYTES = RdmaProtocol.HEADER + 2 + Protocol.MAX_TOKEN_LENGTH;

    private final SlabStore store;
    private final TokenVerifier verifier;
    private final ConnectionLimits limits;
    private final RdmaMetrics metrics;
    private final AtomicInteger unauthenticated = new AtomicInteger();
    private final RdmaPassiveEndpointGroup<QpEndpoint> group;
    private final RdmaServerEndpoint<QpEndpoint> listener;
    private final SlabKeys keys;
    private final Endpoint endpoint;
    private final Thread acceptor;
    private final HandshakeWatchdog<Connection> watchdog;
    private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    public RdmaAgentServer(InetSocketAddress listen, SlabStore store, TokenVerifier verifier, ConnectionLimits limits, RdmaMetrics metrics)
            throws Exception {
        this.store = store;
        this.verifier = verifier;
        this.limits = limits;
        this.metrics = metrics;
        int queue = RdmaProtocol.RECV_BUFFERS + RdmaProtocol.SEND_BUFFERS + 4;
        this.group = new RdmaPassiveEndpointGroup<>(CONNECT_TIMEOUT_MS, queue, 1, 2 * queue);
        group.getConnParam().setRnr_retry_count((byte) 7);
        group.init((id, serverSide) -> {
            QpEndpoint ep = new QpEndpoint(group, id, serverSide);
            Connection c = new Connection(ep);
            ep.attach(c);
            ep.onInit(e -> {
                handshakeBegins(c);
                c.init(e);
            });
            return ep;
        });
        try {
            this.listener = group.createServerEndpoint().bind(listen, 128);
        } catch (Exception e) {
            group.close();
            throw new IllegalStateException("cannot listen for RDMA on " + listen + ": " + e.getMessage()
                    + " (the address must belong to an RDMA device, e.g. the IP of a RoCE NIC or of rxe's netdev)", e);
        }
        InetSocketAddress bound = (InetSocketAddress) listener.getSrcAddr();
        this.endpoint = new Endpoint(listen.getAddress().getHostAddress(), bound != null && bound.getPort() != 0 ? bound.getPort() : listen.getPort());
        this.keys = new SlabKeys(store, listener.getPd(), metrics);
        store.onTakeover(keys::revoke);
        this.acceptor = new Thread(this::acceptLoop, "farmem-rdma-accept-" + endpoint);
        acceptor.setDaemon(true);
        this.watchdog = new HandshakeWatchdog<>(acceptor, limits.helloTimeout());
        acceptor.start();
        log.info("serving RDMA on {}", endpoint);
    }

    @Override
    public Endpoint endpoint() {
        return endpoint;
    }

    @Override
    public int connections() {
        return connections.size();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        acceptor.interrupt();
        watchdog.close();
        for (Connection c : new ArrayList<>(connections)) c.stop();
        try {
            group.close();
        } catch (Exception e) {
            log.debug("closing the RDMA endpoint group: {}", e.toString());
        }
        store.onTakeover(slab -> {});
        keys.close();
    }

    /** On the accepting thread, inside DiSNI's accept: the connection's QP exists and its handshake has begun. */
    private void handshakeBegins(Connection c) {
        watchdog.begin(c);
    }

    private void acceptLoop() {
        while (!closed) {
            QpEndpoint ep;
            try {
                ep = listener.accept();
            } catch (IOException e) {
                HandshakeWatchdog.Ended<Connection> ended = watchdog.end();
                if (closed) break;
                if (ended.cut()) {
                    metrics.refused(Refused.HANDSHAKE_TIMEOUT);
                    log.warn("dropped an RDMA connection whose rdma_cm handshake did not complete within {} ms (--hello-timeout): the client "
                            + "abandoned it or is far too slow; the node accepts the next connection", limits.helloTimeout().toMillis());
                } else {
                    log.warn("accepting an RDMA connection failed: {}", e.toString());
                }
                if (ended.handshake() != null) ended.handshake().teardown();
                continue;
            }
            watchdog.end(); // established, even if the watchdog cut it at the same moment: it is served
            if (ep == null) continue; // DiSNI's accept returns null when it was woken with no connect request
            Connection c = (Connection) ep.attachment();
            connections.add(c);
            metrics.connectionOpened();
            c.admit();
            c.start();
        }
    }

    /** One client: its messages, on its own thread. */
    private final class Connection {
        private final QpEndpoint ep;
        private final Thread thread;
        private Messages messages;
        private IbvCQ cq;
        private volatile boolean stopping;
        /** Counted among the connections waiting for their HELLO, until it arrives or the connection ends. */
        private boolean waitingForHello;
        /** Over the cap on unauthenticated connections: refused as soon as its thread runs. */
        private boolean overLimit;
        private long helloDeadline;
        /** When the token presented in HELLO expires ({@link System#nanoTime()}); meaningful once {@link #tokenExpires} is set. */
        private long tokenDeadline;
        private boolean tokenExpires;
        private long tokenExpiresAtMillis;

        Connection(QpEndpoint ep) {
            this.ep = ep;
            this.thread = new Thread(this::run, "farmem-rdma-agent-conn");
            thread.setDaemon(true);
            ep.onDisconnect(event -> stopping = true);
        }

        /** Before the connection is established: receives are posted before the client's HELLO can arrive. */
        void init(QpEndpoint e) throws IOException {
            messages = new Messages(e);
            cq = e.getCqProvider().getCQ();
        }

        /** Counts the connection among those waiting for a HELLO, and starts its HELLO timeout. On the accepting thread. */
        void admit() {
            waitingForHello = true;
            int now = unauthenticated.incrementAndGet();
            metrics.unauthenticated(now);
            overLimit = now > limits.maxUnauthenticated();
            helloDeadline = System.nanoTime() + limits.helloTimeout().toNanos();
        }

        /** The HELLO arrived, or the connection ended: it no longer counts as waiting. */
        private void helloOrGone() {
            if (!waitingForHello) return;
            waitingForHello = false;
            metrics.unauthenticated(unauthenticated.decrementAndGet());
        }

        void start() {
            thread.start();
        }

        void stop() {
            stopping = true;
            try {
                thread.join(2_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private void run() {
            IbvWC[] wcs = new IbvWC[8];
            for (int i = 0; i < wcs.length; i++) wcs[i] = new IbvWC();
            SVCPollCq poll = null;
            SVCReqNotify notify = null;
            try {
                poll = cq.poll(wcs, wcs.length);
                notify = cq.reqNotification(false);
                if (overLimit) {
                    metrics.refused(Refused.UNAUTHENTICATED_LIMIT);
                    log.warn("refused an RDMA connection: {} connections are already waiting to present a HELLO, the limit (--max-unauthenticated)",
                            limits.maxUnauthenticated());
                    refuse(new TransportException(ErrorCode.CONNECTION_CLOSED, "the node has " + limits.maxUnauthenticated()
                            + " connections waiting to present a HELLO, its limit: try again"));
                }
                while (!stopping && !closed) {
                    // A connection that never presents a token must not hold a slot (a QP, a thread) forever.
                    if (waitingForHello && System.nanoTime() - helloDeadline > 0) {
                        metrics.refused(Refused.HELLO_TIMEOUT);
                        refuse(new TransportException(ErrorCode.UNAUTHENTICATED, "no HELLO within " + limits.helloTimeout().toMillis()
                                + " ms of connecting"));
                        break;
                    }
                    // The token's expiry, as TCP's one timer per connection: this thread wakes at least every POLL_MS anyway.
                    if (tokenExpires && System.nanoTime() - tokenDeadline >= 0) {
                        metrics.expired();
                        refuse(new TransportException(ErrorCode.TOKEN_EXPIRED, "the connection's token expired at "
                                + Instant.ofEpochMilli(tokenExpiresAtMillis) + ": reconnect with the renewed token of the binding"));
                        break;
                    }
                    int n = poll.execute().getPolls();
                    for (int i = 0; i < n; i++) handle(wcs[i]);
                    if (n > 0) continue;
                    notify.execute();
                    n = poll.execute().getPolls();
                    for (int i = 0; i < n; i++) handle(wcs[i]);
                    if (n == 0 && cq.getChannel().getCqEvent(cq, POLL_MS)) cq.ackEvents(1);
                }
            } catch (IOException | RuntimeException | InterruptedException e) {
                if (!stopping && !closed) log.warn("RDMA connection failed: {}", e.toString());
            } finally {
                if (poll != null) poll.free();
                if (notify != null) notify.free();
                teardown();
            }
        }

        private void handle(IbvWC wc) throws IOException, InterruptedException {
            long id = wc.getWr_id();
            boolean ok = wc.getStatus() == IbvWC.IbvWcStatus.IBV_WC_SUCCESS.ordinal();
            if (Messages.isSend(id)) {
                messages.sent(id);
                if (!ok) stopping = true;
                return;
            }
            if (!ok) {
                // The client went away (its QP flushed our receives), or sent more than a receive buffer holds.
                if (waitingForHello && wc.getStatus() == IbvWC.IbvWcStatus.IBV_WC_LOC_LEN_ERR.ordinal()) metrics.refused(Refused.HELLO_TOO_LARGE);
                stopping = true;
                return;
            }
            ByteBuffer in = messages.received(id);
            int length = wc.getByte_len();
            try {
                short type = RdmaProtocol.type(in, length);
                if (waitingForHello && type != RdmaProtocol.HELLO) {
                    metrics.refused(Refused.BEFORE_HELLO);
                    throw new TransportException(ErrorCode.UNAUTHENTICATED, "message type " + type + " before HELLO: present a token first");
                }
                switch (type) {
                    case RdmaProtocol.HELLO -> {
                        if (!waitingForHello) throw new TransportException(ErrorCode.BAD_FRAME, "a second HELLO on one connection: connect again");
                        helloOrGone();
                        // The same bound as TCP's first frame: nothing longer than the longest token is read as one.
                        if (length > HELLO_BYTES) {
                            metrics.refused(Refused.HELLO_TOO_LARGE);
                            throw new TransportException(ErrorCode.FRAME_TOO_LARGE, "a HELLO of " + length + " bytes, the longest is " + HELLO_BYTES
                                    + " (a token of " + Protocol.MAX_TOKEN_LENGTH + " characters)");
                        }
                        try {
                            hello(RdmaProtocol.helloToken(in, length));
                        } catch (TransportException refused) {
                            metrics.refusedToken(refused.code());
                            throw refused;
                        }
                    }
                    case RdmaProtocol.PING -> {
                        long ping = RdmaProtocol.pingId(in);
                        int s = takeSend();
                        RdmaProtocol.ping(messages.sendBuffer(s), RdmaProtocol.PONG, ping);
                        messages.post(s, RdmaProtocol.HEADER + 8);
                    }
                    default -> throw new TransportException(ErrorCode.BAD_FRAME, "unexpected RDMA message type " + type);
                }
            } catch (TransportException e) {
                refuse(e);
                return;
            }
            messages.repost(id);
        }

        private void hello(String token) throws IOException, InterruptedException {
            CapabilityToken grant = verifier.verify(token, System.currentTimeMillis());
            store.attach(grant);
            List<RdmaProtocol.Grant> grants = new ArrayList<>();
            for (SlabRange r : grant.slabs()) {
                for (int s = r.first(); s < r.end(); s++) {
                    // Under the slab's lock: a takeover in between must not hand the old owner the new owner's key.
                    long stamp = store.beginAccess(s);
                    try {
                        TransportException fenced = store.checkAccess(s, 0, 0, grant.claimUid(), grant.epoch());
                        if (fenced != null) throw fenced;
                        // A joining replica tracks the lines clients write, which one-sided RDMA writes would bypass (re-replication).
                        if (!store.complete(s) || !grant.rights().canRead()) {
                            throw new TransportException(ErrorCode.FORBIDDEN, "slab " + s + " is a replica still being filled by a copy (or the token is "
                                    + grant.rights() + "): RDMA does not serve it; use TCP until the copy is done");
                        }
                        var mr = keys.key(s, grant.rights().canWrite());
                        grants.add(new RdmaProtocol.Grant(s, mr.getRkey(), mr.getAddr(), grant.rights().canWrite()));
                    } finally {
                        store.endAccess(s, stamp);
                    }
                }
            }
            if (grants.size() > RdmaProtocol.MAX_GRANTS) {
                throw new TransportException(ErrorCode.OUT_OF_RANGE, "the token grants " + grants.size() + " slabs on this node, one RDMA HELLO_OK holds "
                        + RdmaProtocol.MAX_GRANTS + ": use larger slabs");
            }
            tokenExpiresAtMillis = grant.expiresAtMillis();
            tokenDeadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(grant.expiresAtMillis() - System.currentTimeMillis());
            tokenExpires = true;
            int s = takeSend();
            RdmaProtocol.helloOk(messages.sendBuffer(s), store.slabSize(), grants.toArray(RdmaProtocol.Grant[]::new));
            messages.post(s, messages.sendBuffer(s).position());
        }

        /** Answers an ERROR and disconnects, as the TCP server closes after a protocol or token error. */
        private void refuse(TransportException e) throws IOException, InterruptedException {
            String message = e.getMessage();
            String prefix = e.code() + ": ";
            if (message.startsWith(prefix)) message = message.substring(prefix.length());
            int s = takeSend();
            RdmaProtocol.error(messages.sendBuffer(s), e.code(), message);
            messages.post(s, messages.sendBuffer(s).position());
            // Let the ERROR leave before the disconnect: wait for its send completion, briefly.
            long deadline = System.nanoTime() + 1_000_000_000L;
            IbvWC[] one = {new IbvWC()};
            SVCPollCq poll = cq.poll(one, 1);
            try {
                while (System.nanoTime() < deadline) {
                    if (poll.execute().getPolls() > 0 && Messages.isSend(one[0].getWr_id())) break;
                    Thread.onSpinWait();
                }
            } finally {
                poll.free();
            }
            stopping = true;
        }

        private int takeSend() throws InterruptedException {
            int s = messages.takeSend(1_000_000_000L);
            if (s < 0) throw new TransportException(ErrorCode.INTERNAL, "no send buffer freed within 1 s");
            return s;
        }

        /** Releases what the connection holds; also for one whose handshake was abandoned (never started). */
        private void teardown() {
            helloOrGone();
            if (connections.remove(this)) metrics.connectionClosed();
            try {
                ep.close();
            } catch (Exception e) {
                // the client may be gone already
            }
            try {
                if (cq != null) {
                    cq.destroyCQ();
                    cq.getChannel().destroyCompChannel();
                }
            } catch (IOException | RuntimeException e) {
                // as above
            }
            if (messages != null) messages.close();
        }
    }
}
