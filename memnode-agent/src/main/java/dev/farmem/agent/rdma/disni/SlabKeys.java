package dev.farmem.agent.rdma.disni;

import com.ibm.disni.verbs.IbvMr;
import com.ibm.disni.verbs.IbvPd;
import dev.farmem.agent.rdma.RdmaMetrics;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import java.io.IOException;

/**
 * The node's slabs as RDMA registrations, one per slab and right: a read-write one ({@code REMOTE_READ |
 * REMOTE_WRITE}) and a read-only one ({@code REMOTE_READ}), each made when a token first asks for it. Fencing is a
 * revocation: the slab's registrations are dropped, so the keys older runtimes hold fail with a remote access error,
 * and the next grant registers the slab again under new keys.
 */
final class SlabKeys implements AutoCloseable {

    private static final int RW = IbvMr.IBV_ACCESS_LOCAL_WRITE | IbvMr.IBV_ACCESS_REMOTE_READ | IbvMr.IBV_ACCESS_REMOTE_WRITE;
    private static final int RO = IbvMr.IBV_ACCESS_REMOTE_READ;

    private final SlabStore store;
    private final IbvPd pd;
    private final RdmaMetrics metrics;
    private final IbvMr[] readWrite;
    private final IbvMr[] readOnly;

    SlabKeys(SlabStore store, IbvPd pd, RdmaMetrics metrics) {
        this.store = store;
        this.pd = pd;
        this.metrics = metrics;
        this.readWrite = new IbvMr[store.slabCount()];
        this.readOnly = new IbvMr[store.slabCount()];
    }

    /** The slab's registration for this right, made now if it has none. Call under the slab's access lock. */
    synchronized IbvMr key(int slab, boolean writable) {
        IbvMr[] table = writable ? readWrite : readOnly;
        if (table[slab] == null) {
            try {
                table[slab] = pd.regMr(store.slab(slab), writable ? RW : RO).execute().free().getMr();
                metrics.registered();
            } catch (IOException e) {
                throw new TransportException(ErrorCode.INTERNAL, "cannot register slab " + slab + " for RDMA: " + e.getMessage()
                        + " (an agent serving RDMA needs locked memory: CAP_IPC_LOCK or ulimit -l unlimited)");
            }
        }
        return table[slab];
    }

    /** Drops the slab's registrations (a takeover): every key handed out for it stops working. */
    synchronized void revoke(int slab) {
        if (deregister(readWrite, slab) | deregister(readOnly, slab)) metrics.revoked();
    }

    /** True when the slab had a registration in {@code table}. */
    private static boolean deregister(IbvMr[] table, int slab) {
        IbvMr mr = table[slab];
        if (mr == null) return false;
        table[slab] = null;
        try {
            mr.deregMr().execute().free();
        } catch (IOException e) {
            throw new IllegalStateException("cannot deregister slab " + slab + ": its old key would stay valid: " + e.getMessage(), e);
        }
        return true;
    }

    @Override
    public synchronized void close() {
        for (int s = 0; s < readWrite.length; s++) {
            try {
                deregister(readWrite, s);
                deregister(readOnly, s);
            } catch (IllegalStateException e) {
                // closing the process's device context releases it anyway
            }
        }
    }
}
