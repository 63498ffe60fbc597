package dev.farmem.agent.rdma.disni;

import com.ibm.disni.RdmaPassiveEndpointGroup;
import com.ibm.disni.verbs.IbvCQ;
import com.ibm.disni.verbs.IbvWC;
import com.ibm.disni.verbs.SVCPollCq;
import dev.farmem.agent.rdma.RawClient;
import dev.farmem.transport.rdma.RdmaProtocol;
import dev.farmem.transport.rdma.disni.Messages;
import dev.farmem.transport.rdma.disni.QpEndpoint;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.List;

/** {@link RawClient} on DiSNI: one QP, the two-sided {@link Messages} of the real transport, its CQ polled by the caller. */
public final class RawRdmaClient implements RawClient {

    private final RdmaPassiveEndpointGroup<QpEndpoint> group;
    private final IbvWC[] wc = {new IbvWC()};
    private QpEndpoint ep;
    private Messages messages;
    private IbvCQ cq;
    private SVCPollCq poll;
    private volatile boolean disconnected;

    public RawRdmaClient() throws IOException {
        int queue = RdmaProtocol.RECV_BUFFERS + RdmaProtocol.SEND_BUFFERS + 4;
        group = new RdmaPassiveEndpointGroup<>(10_000, queue, 1, 2 * queue);
        group.getConnParam().setRnr_retry_count((byte) 7);
        group.init((id, serverSide) -> new QpEndpoint(group, id, serverSide));
    }

    @Override
    public void connect(String host, int port, long timeoutMillis) throws IOException {
        ep = group.createEndpoint();
        ep.onInit(e -> messages = new Messages(e));
        ep.onDisconnect(why -> disconnected = true);
        ep.connect(new InetSocketAddress(host, port), timeoutMillis);
        cq = ep.getCqProvider().getCQ();
        poll = cq.poll(wc, 1);
    }

    @Override
    public void send(ByteBuffer message) throws IOException {
        try {
            int s = messages.takeSend(1_000_000_000L);
            if (s < 0) throw new IOException("no send buffer freed within 1 s");
            int length = message.remaining();
            messages.sendBuffer(s).clear().put(message.duplicate());
            messages.post(s, length);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public Reply receive(long timeoutMillis) throws IOException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (System.nanoTime() - deadline < 0) {
            if (poll.execute().getPolls() == 0) {
                if (disconnected) return new Reply(CLOSED, null, null, List.of());
                sleep();
                continue;
            }
            long id = wc[0].getWr_id();
            boolean ok = wc[0].getStatus() == IbvWC.IbvWcStatus.IBV_WC_SUCCESS.ordinal();
            if (Messages.isSend(id)) {
                messages.sent(id);
                if (!ok) return new Reply(CLOSED, null, null, List.of());
                continue;
            }
            if (!ok) return new Reply(CLOSED, null, null, List.of());
            ByteBuffer in = messages.received(id);
            int length = wc[0].getByte_len();
            short type = RdmaProtocol.type(in, length);
            Reply reply = switch (type) {
                case RdmaProtocol.ERROR -> {
                    var e = RdmaProtocol.error(in, length);
                    yield new Reply(type, e.code(), e.getMessage(), List.of());
                }
                case RdmaProtocol.HELLO_OK -> new Reply(type, null, null, List.of(RdmaProtocol.grants(in, length)));
                default -> new Reply(type, null, null, List.of());
            };
            messages.repost(id);
            return reply;
        }
        throw new IOException("the node sent nothing and stayed connected for " + timeoutMillis + " ms");
    }

    private static void sleep() throws IOException {
        try {
            Thread.sleep(1);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public void close() {
        if (poll != null) poll.free();
        try {
            if (ep != null) ep.close();
        } catch (Exception e) {
            // the node may have disconnected already
        }
        try {
            group.close();
        } catch (Exception e) {
            // as above
        }
        if (messages != null) messages.close();
    }
}
