package dev.farmem.e2e.harness.kubelet;

import dev.farmem.e2e.harness.LoopbackAddresses;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * kube-proxy for loopback: each Service's ClusterIP (a 127.x address, from the cluster's service range) is listened
 * on, and each connection is relayed to a Ready pod the Service selects, on the pod's 127.x address. The API server
 * reaches admission webhooks this way; the 'kubernetes' Service leads to the API server. A Service with no Ready
 * pod refuses the connection (closes it), and nothing outside 127.0.0.0/8 is ever listened on or dialled.
 */
final class ServiceProxy implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ServiceProxy.class.getName());

    private final KubernetesClient client;
    private final String apiHost;
    private final int apiPort;
    private final ExecutorService pool = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "service-proxy");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, ServerSocket> listeners = new ConcurrentHashMap<>();
    private final AtomicInteger roundRobin = new AtomicInteger();
    private final SharedIndexInformer<Service> informer;

    ServiceProxy(KubernetesClient client, String apiHost, int apiPort) {
        this.client = client;
        this.apiHost = apiHost;
        this.apiPort = apiPort;
        this.informer = client.services().inAnyNamespace().inform(new ResourceEventHandler<>() {
            @Override public void onAdd(Service s) { sync(s); }
            @Override public void onUpdate(Service old, Service s) {
                // a selector change keeps the listeners (the backend is chosen per connection); new ports get new ones
                if (!Objects.equals(old.getSpec().getClusterIP(), s.getSpec().getClusterIP())
                        || !Objects.equals(old.getSpec().getPorts(), s.getSpec().getPorts())) {
                    unlisten(old);
                }
                sync(s);
            }
            @Override public void onDelete(Service s, boolean unknownFinalState) { unlisten(s); }
        }, 10_000); // the periodic resync retries a listen that failed (e.g. a port still held by a closing socket)
    }

    private void sync(Service s) {
        String ip = s.getSpec().getClusterIP();
        if (!LoopbackAddresses.isLoopback(ip) || s.getSpec().getPorts() == null) {
            return; // headless, or not from this cluster's loopback range: nothing to listen on
        }
        for (ServicePort port : s.getSpec().getPorts()) {
            if (port.getProtocol() != null && !"TCP".equals(port.getProtocol())) {
                continue;
            }
            String key = ip + ":" + port.getPort();
            listeners.computeIfAbsent(key, k -> listen(s, ip, port));
        }
    }

    private ServerSocket listen(Service s, String ip, ServicePort port) {
        try {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(InetAddress.getByName(ip), port.getPort()), 50);
            String ns = s.getMetadata().getNamespace();
            String name = s.getMetadata().getName();
            pool.execute(() -> accept(server, ns, name, port));
            return server;
        } catch (IOException e) {
            LOG.log(Level.WARNING, "cannot listen on " + ip + ":" + port.getPort() + " for service "
                    + s.getMetadata().getNamespace() + "/" + s.getMetadata().getName() + ": " + e.getMessage());
            return null;
        }
    }

    private void accept(ServerSocket server, String ns, String name, ServicePort port) {
        while (!server.isClosed()) {
            try {
                Socket in = server.accept();
                pool.execute(() -> relay(in, ns, name, port));
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    private void relay(Socket in, String ns, String name, ServicePort port) {
        InetSocketAddress backend = backend(ns, name, port);
        if (backend == null) {
            LOG.info("service " + ns + "/" + name + " has no Ready pod; connection refused");
            close(in);
            return;
        }
        try {
            Socket out = new Socket();
            out.connect(backend, 2000);
            pool.execute(() -> pipe(in, out));
            pipe(out, in);
        } catch (IOException e) {
            close(in);
        }
    }

    /** The API server for default/kubernetes; else a Ready pod the selector matches, in turn. */
    private InetSocketAddress backend(String ns, String name, ServicePort port) {
        if ("default".equals(ns) && "kubernetes".equals(name)) {
            return new InetSocketAddress(apiHost, apiPort);
        }
        Service s = client.services().inNamespace(ns).withName(name).get();
        if (s == null || s.getSpec().getSelector() == null || s.getSpec().getSelector().isEmpty()) {
            return null;
        }
        List<Pod> ready = client.pods().inNamespace(ns).withLabels(s.getSpec().getSelector()).list().getItems().stream()
                .filter(p -> p.getMetadata().getDeletionTimestamp() == null && p.getStatus() != null
                        && LoopbackAddresses.isLoopback(p.getStatus().getPodIP())
                        && p.getStatus().getConditions() != null && p.getStatus().getConditions().stream()
                        .anyMatch(c -> "Ready".equals(c.getType()) && "True".equals(c.getStatus())))
                .toList();
        if (ready.isEmpty()) {
            return null;
        }
        Pod pod = ready.get(Math.floorMod(roundRobin.getAndIncrement(), ready.size()));
        Integer target = targetPort(pod, port);
        return target == null ? null : new InetSocketAddress(pod.getStatus().getPodIP(), target);
    }

    private static Integer targetPort(Pod pod, ServicePort port) {
        IntOrString t = port.getTargetPort();
        if (t == null) {
            return port.getPort();
        }
        if (t.getIntVal() != null) {
            return t.getIntVal();
        }
        for (Container c : pod.getSpec().getContainers()) {
            for (ContainerPort p : c.getPorts() == null ? List.<ContainerPort>of() : c.getPorts()) {
                if (t.getStrVal().equals(p.getName())) {
                    return p.getContainerPort();
                }
            }
        }
        return null;
    }

    private static void pipe(Socket from, Socket to) {
        byte[] buf = new byte[16 * 1024];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // one side closed: close both below
        } finally {
            close(from);
            close(to);
        }
    }

    private void unlisten(Service s) {
        String ip = s.getSpec().getClusterIP();
        if (s.getSpec().getPorts() == null) {
            return;
        }
        for (ServicePort port : s.getSpec().getPorts()) {
            ServerSocket server = listeners.remove(ip + ":" + port.getPort());
            if (server != null) {
                close(server);
            }
        }
    }

    private static void close(Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            // already closed
        }
    }

    @Override
    public void close() {
        informer.close();
        listeners.values().forEach(ServiceProxy::close);
        listeners.clear();
        pool.shutdownNow();
    }
}
