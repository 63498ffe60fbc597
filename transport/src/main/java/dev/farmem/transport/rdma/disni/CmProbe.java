package dev.farmem.transport.rdma.disni;

import com.ibm.disni.verbs.RdmaEventChannel;
import java.util.concurrent.Callable;

/** Opens and closes an rdma_cm event channel through DiSNI: proves libdisni loads and rdma_cm answers. Null when it does. */
public final class CmProbe implements Callable<String> {

    @Override
    public String call() {
        try {
            RdmaEventChannel channel = RdmaEventChannel.createEventChannel();
            channel.destroyEventChannel();
            return null;
        } catch (Exception | LinkageError e) {
            return "rdma_cm cannot be opened through libdisni: " + e;
        }
    }
}
