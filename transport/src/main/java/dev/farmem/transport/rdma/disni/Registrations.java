package dev.farmem.transport.rdma.disni;

import com.ibm.disni.util.MemoryUtils;
import com.ibm.disni.verbs.IbvMr;
import com.ibm.disni.verbs.IbvPd;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The memory a transport's user registered ({@code Transport.register}: a client cache's region) and its registration
 * with each protection domain. DiSNI hands every endpoint on one device the same protection domain, so a region is
 * registered once per device, not once per connection: a cache of gigabytes is pinned once whatever the number of
 * memory nodes.
 */
final class Registrations {

    private static final Logger LOG = LoggerFactory.getLogger(Registrations.class);

    /** One registered buffer: its address range, the buffer itself (kept reachable while registered) and its keys. */
    static final class Region {
        final long address;
        final long end;
        @SuppressWarnings("unused") // the memory must not be freed while the NIC may use it
        private final ByteBuffer memory;
        private final Map<IbvPd, IbvMr> mrs = new IdentityHashMap<>();
        private final Map<IbvPd, Boolean> failed = new IdentityHashMap<>();
        private boolean closed;

        Region(ByteBuffer memory) {
            this.memory = memory;
            this.address = MemoryUtils.getAddress(memory);
            this.end = address + memory.capacity();
        }

        /**
         * The region's registration in {@code pd}, made on first use; null when it cannot be registered there (logged
         * once: the connection then copies through its staging slots, slower but correct) or the region was closed.
         */
        synchronized IbvMr in(IbvPd pd) {
            if (closed || failed.containsKey(pd)) return null;
            IbvMr mr = mrs.get(pd);
            if (mr != null) return mr;
            try {
                mr = pd.regMr(address, Math.toIntExact(end - address), IbvMr.IBV_ACCESS_LOCAL_WRITE).execute().free().getMr();
            } catch (IOException | RuntimeException e) {
                failed.put(pd, Boolean.TRUE);
                LOG.warn("cannot register {} bytes of client memory with the RDMA device ({}): reads and writes through it are copied"
                        + " (raise the locked-memory limit, ulimit -l, or give CAP_IPC_LOCK)", end - address, e.getMessage());
                return null;
            }
            mrs.put(pd, mr);
            return mr;
        }

        synchronized void close() {
            closed = true;
            for (IbvMr mr : mrs.values()) {
                try {
                    mr.deregMr().execute().free();
                } catch (IOException | RuntimeException e) {
                    LOG.warn("deregistering client memory failed: {}", e.getMessage());
                }
            }
            mrs.clear();
        }
    }

    /** What a connection's hot path looks up: an address range and its local key in the connection's domain. */
    record Local(Region region, long address, long end, int lkey) {}

    private final List<Region> regions = new CopyOnWriteArrayList<>();

    Region add(ByteBuffer memory) {
        if (!memory.isDirect()) throw new IllegalArgumentException("only direct (off-heap) memory can be registered");
        Region r = new Region(memory);
        regions.add(r);
        return r;
    }

    void remove(Region r) {
        regions.remove(r);
        r.close();
    }

    List<Region> all() {
        return regions;
    }

    void closeAll() {
        for (Region r : regions) r.close();
        regions.clear();
    }

    /** The entry of {@code locals} that holds {@code [address, address + length)}, or null. Allocates nothing. */
    static Local find(Local[] locals, long address, int length) {
        for (Local l : locals) {
            if (address >= l.address && address + length <= l.end) return l;
        }
        return null;
    }
}
