package dev.farmem.transport.rdma.disni;

import com.ibm.disni.RdmaEndpoint;
import com.ibm.disni.RdmaPassiveEndpointGroup;
import com.ibm.disni.RdmaServerEndpoint;
import com.ibm.disni.verbs.IbvMr;
import com.ibm.disni.verbs.IbvRecvWR;
import com.ibm.disni.verbs.IbvSendWR;
import com.ibm.disni.verbs.IbvSge;
import com.ibm.disni.verbs.IbvWC;
import com.ibm.disni.verbs.SVCPollCq;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * libdisni through DiSNI's own API, both ends in one JVM on one RDMA device: open the device through rdma_cm,
 * register memory, connect, a two-sided SEND (the token), then one-sided RDMA READ and WRITE of 4 KiB, and a READ
 * with a revoked rkey failing with a remote access error (what fencing relies on). Runs in the RDMA guest,
 * launched by {@code LibDisniGuestTest}; returns one line per step, throws on the first that fails.
 */
public final class VerbsCheck implements Callable<String> {

    private static final int SIZE = 4096;
    private static final int TIMEOUT_MS = 10_000;

    private final InetSocketAddress address;
    private final StringBuilder report = new StringBuilder();

    public VerbsCheck(String host, Integer port) {
        this.address = new InetSocketAddress(host, port);
    }

    @Override
    public String call() throws Exception {
        RdmaPassiveEndpointGroup<QpEndpoint> serverGroup = new RdmaPassiveEndpointGroup<>(TIMEOUT_MS, 16, 1, 32);
        serverGroup.init((id, serverSide) -> new QpEndpoint(serverGroup, id, serverSide));
        RdmaPassiveEndpointGroup<QpEndpoint> clientGroup = new RdmaPassiveEndpointGroup<>(TIMEOUT_MS, 16, 1, 32);
        clientGroup.init((id, serverSide) -> new QpEndpoint(clientGroup, id, serverSide));
        try {
            RdmaServerEndpoint<QpEndpoint> listener = serverGroup.createServerEndpoint().bind(address, 8);
            step("listening through rdma_cm on " + address);
            CompletableFuture<QpEndpoint> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    return listener.accept();
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            QpEndpoint client = clientGroup.createEndpoint();
            client.connect(address, (long) TIMEOUT_MS);
            QpEndpoint server = accepted.get(TIMEOUT_MS, TimeUnit.MILLISECONDS);
            step("connected: client qp " + client.getQp().getQp_num() + ", server qp " + server.getQp().getQp_num());

            ByteBuffer region = ByteBuffer.allocateDirect(SIZE);
            for (int i = 0; i < SIZE; i++) region.put(i, (byte) (i * 7));
            IbvMr regionMr = server.getPd().regMr(region, IbvMr.IBV_ACCESS_LOCAL_WRITE | IbvMr.IBV_ACCESS_REMOTE_READ | IbvMr.IBV_ACCESS_REMOTE_WRITE).execute().free().getMr();
            ByteBuffer serverMsg = ByteBuffer.allocateDirect(64);
            IbvMr serverMsgMr = server.getPd().regMr(serverMsg, IbvMr.IBV_ACCESS_LOCAL_WRITE).execute().free().getMr();
            ByteBuffer local = ByteBuffer.allocateDirect(SIZE);
            IbvMr localMr = client.getPd().regMr(local, IbvMr.IBV_ACCESS_LOCAL_WRITE).execute().free().getMr();
            step("registered memory: region rkey " + Integer.toUnsignedString(regionMr.getRkey()) + ", local lkey " + Integer.toUnsignedString(localMr.getLkey()));

            // Two-sided: the server posts a receive, the client SENDs a token into it.
            server.postRecv(List.of(recv(1, serverMsgMr, 0, 64))).execute().free();
            byte[] token = "token-of-claim-a".getBytes(StandardCharsets.US_ASCII);
            local.put(0, token);
            client.postSend(List.of(send(2, IbvSendWR.IBV_WR_SEND, localMr, 0, token.length, 0, 0))).execute().free();
            expect(client, 2, IbvWC.IbvWcStatus.IBV_WC_SUCCESS);
            IbvWC got = expect(server, 1, IbvWC.IbvWcStatus.IBV_WC_SUCCESS);
            byte[] received = new byte[got.getByte_len()];
            serverMsg.get(0, received);
            if (!new String(received, StandardCharsets.US_ASCII).equals("token-of-claim-a")) throw new AssertionError("SEND delivered " + new String(received, StandardCharsets.US_ASCII));
            step("SEND of " + token.length + " bytes received intact");

            // One-sided READ of the whole region.
            SvcRead read = new SvcRead(client, localMr, regionMr.getAddr(), regionMr.getRkey());
            read.post(3);
            expect(client, 3, IbvWC.IbvWcStatus.IBV_WC_SUCCESS);
            for (int i = 0; i < SIZE; i++) if (local.get(i) != (byte) (i * 7)) throw new AssertionError("READ byte " + i + " is " + local.get(i));
            step("RDMA READ of " + SIZE + " bytes matches the region");

            // One-sided WRITE of the whole region, seen by the server's CPU without any message.
            for (int i = 0; i < SIZE; i++) local.put(i, (byte) (255 - i));
            client.postSend(List.of(send(4, IbvSendWR.IBV_WR_RDMA_WRITE, localMr, 0, SIZE, regionMr.getAddr(), regionMr.getRkey()))).execute().free();
            expect(client, 4, IbvWC.IbvWcStatus.IBV_WC_SUCCESS);
            for (int i = 0; i < SIZE; i++) if (region.get(i) != (byte) (255 - i)) throw new AssertionError("WRITE byte " + i + " is " + region.get(i));
            step("RDMA WRITE of " + SIZE + " bytes landed in the region");

            // Stateful verb call: the same posted READ again, only its wr_id changed, no new native list.
            read.post(5);
            expect(client, 5, IbvWC.IbvWcStatus.IBV_WC_SUCCESS);
            step("a stateful READ call re-posted with a new wr_id");

            // Revoke: deregister and register again: the new rkey differs and the old one fails remotely.
            int oldRkey = regionMr.getRkey();
            regionMr.deregMr().execute().free();
            IbvMr again = server.getPd().regMr(region, IbvMr.IBV_ACCESS_LOCAL_WRITE | IbvMr.IBV_ACCESS_REMOTE_READ | IbvMr.IBV_ACCESS_REMOTE_WRITE).execute().free().getMr();
            if (again.getRkey() == oldRkey) throw new AssertionError("re-registration kept rkey " + oldRkey);
            read.post(6);
            expect(client, 6, IbvWC.IbvWcStatus.IBV_WC_REM_ACCESS_ERR);
            step("after re-registration (rkey " + Integer.toUnsignedString(oldRkey) + " -> " + Integer.toUnsignedString(again.getRkey()) + ") a READ with the old rkey fails: IBV_WC_REM_ACCESS_ERR");
            read.free();
            return report.toString();
        } finally {
            clientGroup.close();
            serverGroup.close();
        }
    }

    /** One READ work request built once and re-posted, the way the transport's hot path posts. */
    private static final class SvcRead {
        private final com.ibm.disni.verbs.SVCPostSend call;

        SvcRead(RdmaEndpoint ep, IbvMr local, long remoteAddr, int rkey) throws IOException {
            call = ep.postSend(List.of(send(0, IbvSendWR.IBV_WR_RDMA_READ, local, 0, SIZE, remoteAddr, rkey)));
        }

        void post(long wrId) throws IOException {
            call.getWrMod(0).setWr_id(wrId);
            call.execute();
        }

        void free() {
            call.free();
        }
    }

    private static IbvSendWR send(long wrId, int opcode, IbvMr mr, int offset, int length, long remoteAddr, int rkey) {
        IbvSge sge = new IbvSge();
        sge.setAddr(mr.getAddr() + offset);
        sge.setLength(length);
        sge.setLkey(mr.getLkey());
        LinkedList<IbvSge> sges = new LinkedList<>();
        sges.add(sge);
        IbvSendWR wr = new IbvSendWR();
        wr.setWr_id(wrId);
        wr.setSg_list(sges);
        wr.setOpcode(opcode);
        wr.setSend_flags(IbvSendWR.IBV_SEND_SIGNALED);
        wr.getRdma().setRemote_addr(remoteAddr);
        wr.getRdma().setRkey(rkey);
        return wr;
    }

    private static IbvRecvWR recv(long wrId, IbvMr mr, int offset, int length) {
        IbvSge sge = new IbvSge();
        sge.setAddr(mr.getAddr() + offset);
        sge.setLength(length);
        sge.setLkey(mr.getLkey());
        LinkedList<IbvSge> sges = new LinkedList<>();
        sges.add(sge);
        IbvRecvWR wr = new IbvRecvWR();
        wr.setWr_id(wrId);
        wr.setSg_list(sges);
        return wr;
    }

    /** Polls the endpoint's own CQ until the completion of {@code wrId} arrives, and checks its status. */
    private static IbvWC expect(RdmaEndpoint ep, long wrId, IbvWC.IbvWcStatus status) throws IOException {
        IbvWC[] wcs = {new IbvWC()};
        SVCPollCq poll = ep.getCqProvider().getCQ().poll(wcs, 1);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        List<Long> others = new ArrayList<>();
        try {
            while (System.nanoTime() < deadline) {
                if (poll.execute().getPolls() == 0) {
                    Thread.onSpinWait();
                    continue;
                }
                IbvWC wc = wcs[0];
                if (wc.getWr_id() != wrId) {
                    others.add(wc.getWr_id());
                    continue;
                }
                if (wc.getStatus() != status.ordinal()) {
                    throw new AssertionError("wr " + wrId + " completed with " + IbvWC.IbvWcStatus.valueOf(wc.getStatus()) + ", expected " + status);
                }
                return wc.clone();
            }
            throw new AssertionError("no completion of wr " + wrId + " within " + TIMEOUT_MS + " ms (others seen: " + others + ")");
        } finally {
            poll.free();
        }
    }

    private void step(String line) {
        report.append("ok: ").append(line).append('\n');
        System.out.println("ok: " + line);
    }
}
