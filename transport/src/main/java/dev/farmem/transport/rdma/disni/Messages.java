package dev.farmem.transport.rdma.disni;

import com.ibm.disni.verbs.IbvMr;
import com.ibm.disni.verbs.IbvSendWR;
import com.ibm.disni.verbs.SVCPostRecv;
import com.ibm.disni.verbs.SVCPostSend;
import dev.farmem.transport.rdma.RdmaProtocol;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The two-sided half of one connection: {@link RdmaProtocol#RECV_BUFFERS} receive buffers kept posted and
 * {@link RdmaProtocol#SEND_BUFFERS} send buffers, all in one registration, each with its stateful post call.
 * Work request ids carry {@link #RECV} or {@link #SEND} and the buffer's index, so they never collide with the
 * data path's slot numbers.
 */
public final class Messages {

    public static final long RECV = 1L << 40;
    public static final long SEND = 1L << 41;
    private static final long INDEX = 0xffff;

    private final IbvMr mr;
    private final ByteBuffer[] recv = new ByteBuffer[RdmaProtocol.RECV_BUFFERS];
    private final ByteBuffer[] send = new ByteBuffer[RdmaProtocol.SEND_BUFFERS];
    private final SVCPostRecv[] recvCalls = new SVCPostRecv[RdmaProtocol.RECV_BUFFERS];
    private final SVCPostSend[] sendCalls = new SVCPostSend[RdmaProtocol.SEND_BUFFERS];
    private final ArrayBlockingQueue<Integer> freeSends = new ArrayBlockingQueue<>(RdmaProtocol.SEND_BUFFERS);

    /** Registers the buffers in the endpoint's protection domain and posts every receive. Call from {@link QpEndpoint#onInit}. */
    public Messages(QpEndpoint ep) throws IOException {
        int n = RdmaProtocol.RECV_BUFFERS + RdmaProtocol.SEND_BUFFERS;
        ByteBuffer memory = ByteBuffer.allocateDirect(n * RdmaProtocol.MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        mr = ep.getPd().regMr(memory, IbvMr.IBV_ACCESS_LOCAL_WRITE).execute().free().getMr();
        for (int i = 0; i < n; i++) {
            ByteBuffer b = memory.slice(i * RdmaProtocol.MESSAGE_BYTES, RdmaProtocol.MESSAGE_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            long addr = mr.getAddr() + (long) i * RdmaProtocol.MESSAGE_BYTES;
            if (i < RdmaProtocol.RECV_BUFFERS) {
                recv[i] = b;
                recvCalls[i] = ep.postRecv(List.of(Wrs.recv(RECV | i, addr, RdmaProtocol.MESSAGE_BYTES, mr.getLkey())));
                recvCalls[i].execute();
            } else {
                int s = i - RdmaProtocol.RECV_BUFFERS;
                send[s] = b;
                sendCalls[s] = ep.postSend(List.of(Wrs.send(SEND | s, IbvSendWR.IBV_WR_SEND, IbvSendWR.IBV_SEND_SIGNALED, addr,
                        RdmaProtocol.MESSAGE_BYTES, mr.getLkey(), 0, 0)));
                freeSends.add(s);
            }
        }
    }

    public static boolean isReceive(long wrId) {
        return (wrId & RECV) != 0;
    }

    public static boolean isSend(long wrId) {
        return (wrId & SEND) != 0;
    }

    /** The buffer a receive completion filled. */
    public ByteBuffer received(long wrId) {
        return recv[(int) (wrId & INDEX)];
    }

    /** Posts the receive buffer again once its message was handled. */
    public void repost(long wrId) throws IOException {
        recvCalls[(int) (wrId & INDEX)].execute();
    }

    /** A free send buffer's index, waiting up to {@code nanos}; -1 when none freed in time. */
    public int takeSend(long nanos) throws InterruptedException {
        Integer i = nanos <= 0 ? freeSends.poll() : freeSends.poll(nanos, TimeUnit.NANOSECONDS);
        return i == null ? -1 : i;
    }

    public ByteBuffer sendBuffer(int i) {
        return send[i];
    }

    /** SENDs the first {@code length} bytes of send buffer {@code i}; the buffer is free again at its completion ({@link #sent}). */
    public void post(int i, int length) throws IOException {
        sendCalls[i].getWrMod(0).getSgeMod(0).setLength(length);
        sendCalls[i].execute();
    }

    /** A send completion: its buffer is free. */
    public void sent(long wrId) {
        freeSends.offer((int) (wrId & INDEX));
    }

    public void close() {
        for (SVCPostRecv c : recvCalls) if (c != null) c.free();
        for (SVCPostSend c : sendCalls) if (c != null) c.free();
        try {
            mr.deregMr().execute().free();
        } catch (IOException e) {
            // the QP is gone with the connection; the registration goes with the process
        }
    }
}
