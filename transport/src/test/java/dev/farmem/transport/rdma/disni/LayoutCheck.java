package dev.farmem.transport.rdma.disni;

import com.ibm.disni.verbs.IbvWC;
import com.ibm.disni.verbs.RdmaProvider;
import com.ibm.disni.verbs.impl.NatIbvSendWR;
import com.ibm.disni.verbs.impl.NatIbvSge;
import java.util.concurrent.Callable;

/**
 * Loads libdisni the way production does and reports what DiSNI learnt from it at start: the JNI version it
 * accepts and the C layouts it writes work requests and completions in. Needs no RDMA device.
 */
public final class LayoutCheck implements Callable<String> {

    @Override
    public String call() throws Exception {
        int version = RdmaProvider.provider().getVersion();
        return "version=" + version + " sendWr=" + NatIbvSendWR.CSIZE + " remoteAddrOffset=" + NatIbvSendWR.REMOTEADDR_OFFSET
                + " rkeyOffset=" + NatIbvSendWR.RKEY_OFFSET + " sge=" + NatIbvSge.CSIZE + " wc=" + IbvWC.CSIZE
                + " loader=" + RdmaProvider.class.getClassLoader().getName();
    }
}
