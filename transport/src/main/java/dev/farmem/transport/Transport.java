package dev.farmem.transport;

import dev.farmem.common.Endpoint;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * A way to reach memory nodes: TCP (Netty) or RDMA (DiSNI). Open one with {@link Transports#open}.
 *
 * <p>The operations of a {@link MemoryNodeConnection} are one-sided: the memory node's CPU does
 * not interpret the data, it only places bytes, so each maps one to one onto an RDMA verb. The
 * TCP transport ({@code dev.farmem.transport.tcp}) emulates them with the frames of
 * {@code dev.farmem.transport.wire.Protocol}; an RDMA transport on DiSNI maps them so:
 *
 * <table>
 * <caption>SPI to verbs</caption>
 * <tr><th>SPI</th><th>TCP frame</th><th>RDMA (DiSNI)</th></tr>
 * <tr><td>{@link #connect} with a token</td><td>preamble + HELLO / HELLO_OK</td>
 *     <td>rdma_cm connect ({@code RdmaActiveEndpoint.connect}); the token goes in a two-sided SEND, the node
 *     verifies it, fences and zeroes as on TCP, and answers with the granted slabs' region address and
 *     {@code rkey} (each slab registered with {@code IBV_ACCESS_REMOTE_READ | REMOTE_WRITE}); a wrong token
 *     gets no keys</td></tr>
 * <tr><td>slab number, offset</td><td>i32 slab, i64 offset</td><td>{@code remote_addr = slabBase + offset}, the slab's {@code rkey}</td></tr>
 * <tr><td>{@link MemoryNodeConnection#read}</td><td>READ / READ_OK</td>
 *     <td>one {@code IBV_WR_RDMA_READ} work request, one SGE over the registered destination</td></tr>
 * <tr><td>{@link MemoryNodeConnection#writev} with a {@link WriteBatch}</td><td>WRITEV / WRITEV_OK</td>
 *     <td>a chain of {@code IBV_WR_RDMA_WRITE}, one per segment (local SGE = the segment's bytes in
 *     registered memory), only the last {@code IBV_SEND_SIGNALED}: in-order delivery on one QP means its
 *     completion covers the chain</td></tr>
 * <tr><td>future completes</td><td>response frame with the request id</td><td>{@code IbvWC} with {@code wr_id} = request id</td></tr>
 * <tr><td>{@link ErrorCode#FENCED}, {@code FORBIDDEN}</td><td>ERROR frame</td>
 *     <td>the node revokes the slab's registration (new {@code rkey}); the NIC fails later verbs with a
 *     remote access error, reported as {@code FENCED}</td></tr>
 * <tr><td>bytes in flight bound</td><td>client semaphore</td><td>send queue depth ({@code maxWR}) and CQ size</td></tr>
 * </table>
 *
 * <p>{@code dev.farmem.transport.rdma.RdmaTransport} is that mapping, on farmem's own {@code libdisni}
 * ({@code dev.farmem.transport.rdma.DisniRuntime}); {@code RdmaSupport} probes for a device and the library. Two
 * differences from TCP: a memory node serves RDMA on its TCP endpoint's address and port number (rdma_cm has its own
 * port space), and a fenced RDMA connection closes (its QP is in the error state), every later request failing
 * {@code FENCED}.
 */
public interface Transport extends AutoCloseable {

    /** {@code tcp} or {@code rdma}. */
    String name();

    /**
     * Opens a connection to a memory node and presents a capability token (HELLO). The future
     * completes once the node accepted the token, or fails with a {@link TransportException}
     * whose code says why (a wrong token is {@code UNAUTHENTICATED}, an old epoch is {@code FENCED}).
     */
    CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token);

    /**
     * Declares {@code memory} (a direct buffer) as where reads land, over and over: a client cache's region. RDMA
     * registers it once with the NIC (on every connection, those opened later too), so that a
     * {@link MemoryNodeConnection#read} whose destination lies inside it is an RDMA READ straight into it, with no
     * copy; other buffers still work, through a copy. Likewise a {@link MemoryNodeConnection#writev(int, WriteBatch, Runnable)}
     * (the one that says when the sources are free again) WRITEs straight from it; the two-argument {@code writev} copies
     * whatever its source, because it lets the caller reuse the bytes as soon as it returns. TCP ignores it (its socket
     * copies anyway).
     *
     * <p>Close the registration before the memory is freed or unmapped, and only once no request that uses it is in
     * flight: a registration pins the pages, and a stale one would let a later buffer at the same address be read
     * from the old pages. Where the memory cannot be registered (for example the locked-memory limit), the
     * transport logs why and keeps copying.
     */
    default Registration register(ByteBuffer memory) {
        if (!memory.isDirect()) throw new IllegalArgumentException("only direct (off-heap) memory can be registered");
        return Registration.NONE;
    }

    /**
     * Holds back the requests the calling thread sends on this transport's connections until the returned scope closes,
     * then sends them: for a thread that puts many requests in flight before it waits for any (a batch of misses). Over
     * TCP each connection's held requests then leave in one write, one system call for the batch instead of one each (or
     * a hand-off to the I/O thread each). Scopes nest; the outermost close sends. Inside a scope the thread must not wait
     * for the reply to a request it sent there (it would wait until the request timed out); a send that has to wait for
     * room in flight sends what the thread holds first. Transports that gain nothing by it (RDMA posts each request as a
     * work request anyway) ignore it.
     */
    default Gather gather() {
        return Gather.NONE;
    }

    /** A {@link #gather} scope of the calling thread; close it on that thread, once. */
    interface Gather extends AutoCloseable {
        /** Nothing held: requests leave as they are sent. */
        Gather NONE = () -> {};

        /** Sends what the thread held, unless an enclosing scope is still open. */
        @Override
        void close();
    }

    /** A {@link #register} in force until closed. */
    interface Registration extends AutoCloseable {
        /** Nothing to release (a transport that copies anyway). */
        Registration NONE = () -> {};

        /**
         * True when a {@code writev} with a release WRITEs from this memory with no copy (RDMA), so the caller must keep
         * the sources until the release; false when the transport copies them before it returns (TCP).
         */
        default boolean writesWithoutCopy() {
            return false;
        }

        @Override
        void close();
    }

    /** Closes every connection this transport opened and releases its threads. */
    @Override
    void close();
}
