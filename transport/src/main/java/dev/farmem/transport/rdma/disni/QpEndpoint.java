package dev.farmem.transport.rdma.disni;

import com.ibm.disni.RdmaEndpoint;
import com.ibm.disni.RdmaEndpointGroup;
import com.ibm.disni.verbs.RdmaCmEvent;
import com.ibm.disni.verbs.RdmaCmId;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A DiSNI endpoint with its own completion queue (made by a {@code RdmaPassiveEndpointGroup}), polled by its
 * owner: farmem dispatches completions by {@code wr_id} on the queue of one QP, never by DiSNI's {@code qp_num}
 * lookup, because DiSNI fills a failed completion's {@code qp_num} only on success.
 *
 * <p>It also reports what DiSNI's endpoint leaves unhandled: a connection that is rejected, unreachable or fails
 * to resolve (DiSNI's {@code connect} would wait for ever), and a disconnect once connected.
 */
public class QpEndpoint extends RdmaEndpoint {

    private volatile Thread connecting;
    private volatile String failure;
    private volatile Consumer<String> onDisconnect = why -> {};
    private volatile Init init;
    private volatile Object attachment;

    /** Work done once the QP exists and before the connection is established: register memory, post receives. */
    @FunctionalInterface
    public interface Init {
        void run(QpEndpoint endpoint) throws IOException;
    }

    public QpEndpoint(RdmaEndpointGroup<? extends RdmaEndpoint> group, RdmaCmId id, boolean serverSide) throws IOException {
        super(group, id, serverSide);
    }

    /** Connects, or throws saying why (the rdma_cm event) or that it took longer than {@code timeoutMillis}. */
    public void connect(InetSocketAddress address, long timeoutMillis) throws IOException {
        Thread self = Thread.currentThread();
        connecting = self;
        Thread watchdog = new Thread(() -> {
            try {
                TimeUnit.MILLISECONDS.sleep(timeoutMillis);
                if (connecting == self) {
                    failure = "no RDMA connection within " + timeoutMillis + " ms";
                    self.interrupt();
                }
            } catch (InterruptedException done) {
                // connected or failed first
            }
        }, "farmem-rdma-connect-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            super.connect(address, (int) Math.min(Integer.MAX_VALUE, timeoutMillis));
        } catch (InterruptedException e) {
            throw new IOException(failure != null ? failure : "interrupted while connecting", e);
        } catch (IOException e) {
            throw new IOException(failure != null ? failure : e.getMessage(), e);
        } catch (Exception e) {
            throw new IOException(failure != null ? failure : e.toString(), e);
        } finally {
            connecting = null;
            watchdog.interrupt();
            // A watchdog that saw this thread still connecting just before it finished (a connect that took about the
            // timeout, as on a loaded TCG guest) interrupts it late: wait for it, so its interrupt is cleared below and
            // does not fail the HELLO that follows.
            boolean joined = false;
            while (!joined) {
                try {
                    watchdog.join();
                    joined = true;
                } catch (InterruptedException lateInterrupt) {
                    // cleared; keep waiting for the watchdog to end
                }
            }
            Thread.interrupted(); // a late interrupt from a failure event must not leak into the caller
        }
    }

    /** Runs {@code work} when the QP exists, before connect or accept completes, so receives are posted before any SEND arrives. */
    public void onInit(Init work) {
        this.init = work;
    }

    @Override
    protected synchronized void init() throws IOException {
        Init work = init;
        if (work != null) work.run(this);
    }

    /** What owns this endpoint (the agent's connection), for whoever accepted it. */
    public void attach(Object owner) {
        this.attachment = owner;
    }

    public Object attachment() {
        return attachment;
    }

    /** Runs {@code listener} (on DiSNI's rdma_cm thread) when the peer disconnects. */
    public void onDisconnect(Consumer<String> listener) {
        this.onDisconnect = listener;
    }

    @Override
    public synchronized void dispatchCmEvent(RdmaCmEvent event) throws IOException {
        super.dispatchCmEvent(event);
        int type = event.getEvent();
        RdmaCmEvent.EventType[] types = RdmaCmEvent.EventType.values();
        String name = type >= 0 && type < types.length ? types[type].name() : "event " + type;
        if (type == RdmaCmEvent.EventType.RDMA_CM_EVENT_DISCONNECTED.ordinal()
                || type == RdmaCmEvent.EventType.RDMA_CM_EVENT_DEVICE_REMOVAL.ordinal()) {
            onDisconnect.accept(name);
        } else if (type == RdmaCmEvent.EventType.RDMA_CM_EVENT_REJECTED.ordinal()
                || type == RdmaCmEvent.EventType.RDMA_CM_EVENT_UNREACHABLE.ordinal()
                || type == RdmaCmEvent.EventType.RDMA_CM_EVENT_CONNECT_ERROR.ordinal()
                || type == RdmaCmEvent.EventType.RDMA_CM_EVENT_ADDR_ERROR.ordinal()
                || type == RdmaCmEvent.EventType.RDMA_CM_EVENT_ROUTE_ERROR.ordinal()) {
            Thread t = connecting;
            if (t != null) {
                failure = "rdma_cm: " + name + " (nothing listens there over RDMA, or no RDMA route to it)";
                t.interrupt();
            } else {
                onDisconnect.accept(name);
            }
        }
    }
}
