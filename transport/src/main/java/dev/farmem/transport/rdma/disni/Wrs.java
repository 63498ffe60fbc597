package dev.farmem.transport.rdma.disni;

import com.ibm.disni.verbs.IbvRecvWR;
import com.ibm.disni.verbs.IbvSendWR;
import com.ibm.disni.verbs.IbvSge;
import java.util.LinkedList;

/** Builders of DiSNI work requests, each with one scatter entry; built once, then re-posted as stateful verb calls. */
public final class Wrs {

    private Wrs() {}

    public static IbvSendWR send(long wrId, int opcode, int flags, long localAddr, int length, int lkey, long remoteAddr, int rkey) {
        IbvSendWR wr = new IbvSendWR();
        wr.setWr_id(wrId);
        wr.setSg_list(sge(localAddr, length, lkey));
        wr.setOpcode(opcode);
        wr.setSend_flags(flags);
        wr.getRdma().setRemote_addr(remoteAddr);
        wr.getRdma().setRkey(rkey);
        return wr;
    }

    public static IbvRecvWR recv(long wrId, long localAddr, int length, int lkey) {
        IbvRecvWR wr = new IbvRecvWR();
        wr.setWr_id(wrId);
        wr.setSg_list(sge(localAddr, length, lkey));
        return wr;
    }

    private static LinkedList<IbvSge> sge(long addr, int length, int lkey) {
        IbvSge sge = new IbvSge();
        sge.setAddr(addr);
        sge.setLength(length);
        sge.setLkey(lkey);
        LinkedList<IbvSge> list = new LinkedList<>();
        list.add(sge);
        return list;
    }
}
