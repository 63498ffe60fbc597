package dev.farmem.transport.rdma.disni;

import com.ibm.disni.RdmaPassiveEndpointGroup;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.rdma.RdmaOptions;
import dev.farmem.transport.rdma.RdmaProtocol;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The RDMA transport on DiSNI (made inside {@code DisniRuntime}'s loader; open it with
 * {@code dev.farmem.transport.rdma.RdmaTransport}). One rdma_cm event thread for the transport, one completion
 * thread per connection. A memory node serves RDMA on the same address and port number as TCP (rdma_cm's port space
 * is its own), so a binding's endpoints serve both.
 */
public final class DisniTransport implements Transport {

    private final RdmaOptions options;
    private final RdmaPassiveEndpointGroup<QpEndpoint> group;
    private final ExecutorService connector;
    private final Set<RdmaConnection> connections = ConcurrentHashMap.newKeySet();
    private final Registrations registrations = new Registrations();
    private volatile boolean closed;

    public DisniTransport(RdmaOptions options) throws IOException {
        this.options = options;
        int cqSize = options.depth() + RdmaProtocol.RECV_BUFFERS + RdmaProtocol.SEND_BUFFERS + 16;
        this.group = new RdmaPassiveEndpointGroup<>((int) options.connectTimeout().toMillis(), options.sendQueueDepth(), 1, cqSize);
        // Receives are posted before the connection is established, but retry a SEND that finds none (7: for ever).
        group.getConnParam().setRnr_retry_count((byte) 7);
        group.getConnParam().setRetry_count((byte) 7);
        group.init((id, serverSide) -> new QpEndpoint(group, id, serverSide));
        this.connector = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "farmem-rdma-connect");
            t.setDaemon(true);
            return t;
        });
    }

    @Override
    public String name() {
        return "rdma";
    }

    @Override
    public CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token) {
        if (closed) return CompletableFuture.failedFuture(new TransportException(ErrorCode.CONNECTION_CLOSED, "the RDMA transport is closed"));
        return CompletableFuture.supplyAsync(() -> open(endpoint, token), connector);
    }

    private MemoryNodeConnection open(Endpoint endpoint, String token) {
        QpEndpoint ep;
        try {
            ep = group.createEndpoint();
        } catch (IOException e) {
            throw new TransportException(ErrorCode.CONNECTION_CLOSED, "cannot make an rdma_cm id: " + e.getMessage(), e);
        }
        RdmaConnection[] self = new RdmaConnection[1];
        RdmaConnection c = new RdmaConnection(ep, endpoint, options, () -> connections.remove(self[0]));
        self[0] = c;
        try {
            ep.connect(new InetSocketAddress(endpoint.host(), endpoint.port()), options.connectTimeout().toMillis());
        } catch (IOException e) {
            closeQuietly(ep);
            throw new TransportException(ErrorCode.CONNECTION_CLOSED, "cannot connect to memory node " + endpoint + " over RDMA: " + e.getMessage(), e);
        }
        connections.add(c);
        // Regions registered before, and one registered while this connected: adopt is idempotent.
        for (Registrations.Region r : registrations.all()) c.adopt(r);
        try {
            return c.hello(token).get(options.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            c.close();
            connections.remove(c);
            throw e.getCause() instanceof TransportException t ? t : new CompletionException(e.getCause());
        } catch (TimeoutException e) {
            c.close();
            connections.remove(c);
            throw new TransportException(ErrorCode.TIMEOUT, "memory node " + endpoint + " did not answer HELLO within " + options.connectTimeout());
        } catch (InterruptedException e) {
            c.close();
            Thread.currentThread().interrupt();
            throw new TransportException(ErrorCode.CONNECTION_CLOSED, "interrupted while connecting to " + endpoint);
        }
    }

    /**
     * Registers {@code memory} once per device (DiSNI shares one protection domain among a device's endpoints) and
     * tells every connection, those opened later too: its reads into and writes from that memory then move with no copy.
     */
    @Override
    public Registration register(ByteBuffer memory) {
        Registrations.Region r = registrations.add(memory);
        for (RdmaConnection c : connections) c.adopt(r);
        return new Registration() {
            @Override
            public boolean writesWithoutCopy() {
                return true; // where a device refused the registration, its connections copy: still correct, only slower
            }

            @Override
            public void close() {
                for (RdmaConnection c : connections) c.drop(r);
                registrations.remove(r);
            }
        };
    }

    private static void closeQuietly(QpEndpoint ep) {
        try {
            ep.close();
        } catch (IOException | InterruptedException | RuntimeException e) {
            // nothing was established
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        List<RdmaConnection> open = new ArrayList<>(connections);
        for (RdmaConnection c : open) c.close();
        connector.shutdownNow();
        registrations.closeAll();
        try {
            group.close();
        } catch (IOException | InterruptedException | RuntimeException e) {
            // endpoints are closed; the rdma_cm channel goes with the process
        }
    }
}
