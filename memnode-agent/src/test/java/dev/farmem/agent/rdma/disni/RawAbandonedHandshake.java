package dev.farmem.agent.rdma.disni;

import com.ibm.disni.verbs.RdmaCm;
import com.ibm.disni.verbs.RdmaCmEvent;
import com.ibm.disni.verbs.RdmaCmId;
import com.ibm.disni.verbs.RdmaConnParam;
import com.ibm.disni.verbs.RdmaEventChannel;
import dev.farmem.agent.rdma.AbandonedHandshake;
import java.io.IOException;
import java.net.InetSocketAddress;

/**
 * {@link AbandonedHandshake} on DiSNI's raw rdma_cm verbs, with its own event channel. The id has no QP, so librdmacm
 * hands the node's REP to this code as CONNECT_RESPONSE instead of answering it with an RTU (it does that only for an
 * id with a QP): seeing that event proves the node accepted and now waits for ESTABLISHED, and never calling
 * {@code rdma_establish} abandons the handshake there.
 */
public final class RawAbandonedHandshake implements AbandonedHandshake {

    private final RdmaEventChannel channel;
    private final RdmaCmId id;

    public RawAbandonedHandshake(String host, int port, long timeoutMillis) throws IOException {
        int timeout = (int) Math.min(Integer.MAX_VALUE, timeoutMillis);
        channel = RdmaEventChannel.createEventChannel();
        id = channel.createId(RdmaCm.RDMA_PS_TCP);
        try {
            id.resolveAddr(null, new InetSocketAddress(host, port), timeout);
            await(RdmaCmEvent.EventType.RDMA_CM_EVENT_ADDR_RESOLVED, timeoutMillis);
            id.resolveRoute(timeout);
            await(RdmaCmEvent.EventType.RDMA_CM_EVENT_ROUTE_RESOLVED, timeoutMillis);
            id.connect(new RdmaConnParam());
            await(RdmaCmEvent.EventType.RDMA_CM_EVENT_CONNECT_RESPONSE, timeoutMillis);
        } catch (IOException | RuntimeException e) {
            close();
            throw e;
        }
    }

    private void await(RdmaCmEvent.EventType expected, long timeoutMillis) throws IOException {
        long deadline = System.nanoTime() + timeoutMillis * 1_000_000L;
        while (System.nanoTime() - deadline < 0) {
            RdmaCmEvent e = channel.getCmEvent(100);
            if (e == null) continue;
            int type = e.getEvent();
            e.ackEvent();
            if (type == expected.ordinal()) return;
            RdmaCmEvent.EventType[] types = RdmaCmEvent.EventType.values();
            throw new IOException("rdma_cm event " + (type >= 0 && type < types.length ? types[type].name() : type) + " where " + expected + " was expected");
        }
        throw new IOException("no " + expected + " within " + timeoutMillis + " ms");
    }

    @Override
    public void close() {
        try {
            id.destroyId();
        } catch (IOException | RuntimeException e) {
            // the node may have rejected the connection meanwhile
        }
        try {
            channel.destroyEventChannel();
        } catch (IOException | RuntimeException e) {
            // as above
        }
    }
}
