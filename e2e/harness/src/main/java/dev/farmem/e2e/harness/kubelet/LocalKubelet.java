package dev.farmem.e2e.harness.kubelet;

import dev.farmem.e2e.harness.LoopbackAddresses;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.informers.ResourceEventHandler;
import io.fabric8.kubernetes.client.informers.SharedIndexInformer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.stream.Stream;

/**
 * A kubelet for a machine without containers: it registers Nodes, keeps their Ready condition and Lease fresh, and
 * runs the pods the scheduler binds to them as local processes (see {@link ImageTable}), each on its own 127.x
 * address. Example:
 * <pre>{@code
 * var kubelet = new LocalKubelet(client, "127.0.0.1", apiPort, addresses, dir, ImageTable.load(repo), repo, "v1.32.13");
 * kubelet.startNode(NodeSpec.of("node-a", "zone-1", "rack-1"));
 * }</pre>
 */
public final class LocalKubelet implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(LocalKubelet.class.getName());

    private final KubernetesClient client;
    private final String apiHost;
    private final int apiPort;
    private final LoopbackAddresses addresses;
    private final Path root;
    private final Path repo;
    private final ImageTable images;
    private final String version;
    private final PodVolumes volumes;
    private final ProbeRunner probes = new ProbeRunner();
    private final ScheduledExecutorService scheduler = Executors.newScheduledThreadPool(4, r -> {
        Thread t = new Thread(r, "local-kubelet");
        t.setDaemon(true);
        return t;
    });
    /** Deletions wait out grace periods (up to 30 s each) without holding up the sync threads. */
    private final ExecutorService terminator = Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "local-kubelet-terminate");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, LocalNode> nodes = new ConcurrentHashMap<>();
    private final Map<String, PodWorker> workers = new ConcurrentHashMap<>();
    private final SharedIndexInformer<Pod> informer;
    private final ServiceProxy serviceProxy;

    public LocalKubelet(KubernetesClient client, String apiHost, int apiPort, LoopbackAddresses addresses, Path root,
                        ImageTable images, Path repo, String version) {
        this.client = client;
        this.apiHost = apiHost;
        this.apiPort = apiPort;
        this.addresses = addresses;
        this.root = root;
        this.repo = repo;
        this.images = images;
        this.version = version;
        this.volumes = new PodVolumes(client);
        this.informer = client.pods().inAnyNamespace().inform(new ResourceEventHandler<>() {
            @Override public void onAdd(Pod pod) { observe(pod); }
            @Override public void onUpdate(Pod oldPod, Pod pod) { observe(pod); }
            @Override public void onDelete(Pod pod, boolean unknownFinalState) { forget(pod); }
        }, 30_000);
        this.serviceProxy = new ServiceProxy(client, apiHost, apiPort);
    }

    /** Registers the node (or brings a stopped one back) and runs the pods bound to it. */
    public synchronized void startNode(NodeSpec spec) {
        LocalNode existing = nodes.get(spec.name());
        if (existing != null && existing.running()) {
            throw new IllegalStateException("node " + spec.name() + " is already running");
        }
        LocalNode node = new LocalNode(client, spec, version);
        node.start(scheduler);
        nodes.put(spec.name(), node);
        informer.getStore().list().forEach(this::observe);
    }

    /** Node loss: heartbeats stop and the node's processes are killed; the pod objects are left as they were. */
    public synchronized void stopNode(String name) {
        LocalNode node = nodes.get(name);
        if (node == null) {
            throw new IllegalArgumentException("no node " + name + " on this kubelet (it has " + nodes.keySet() + ")");
        }
        node.stop();
        workers.entrySet().removeIf(e -> {
            if (name.equals(e.getValue().pod().getSpec().getNodeName())) {
                e.getValue().kill();
                return true;
            }
            return false;
        });
    }

    public Set<String> nodeNames() {
        return new TreeSet<>(nodes.keySet());
    }

    public boolean isRunning(String node) {
        LocalNode n = nodes.get(node);
        return n != null && n.running();
    }

    /** The log file of a container of a pod that ran here (kubectl logs needs a kubelet server, which this is not). */
    public Optional<Path> containerLog(String namespace, String pod, String container) {
        Path p = root.resolve("logs").resolve(namespace + "_" + pod + "_" + container + ".log");
        return Files.isRegularFile(p) ? Optional.of(p) : Optional.empty();
    }

    private void observe(Pod pod) {
        String nodeName = pod.getSpec().getNodeName();
        LocalNode node = nodeName == null ? null : nodes.get(nodeName);
        if (node == null || !node.running()) {
            return;
        }
        String uid = pod.getMetadata().getUid();
        PodWorker worker = workers.get(uid);
        if (pod.getMetadata().getDeletionTimestamp() != null) {
            if (worker != null || !isTerminal(pod)) {
                terminator.execute(() -> finishDeletion(pod, worker));
            }
            return;
        }
        if (worker != null) {
            worker.update(pod);
            return;
        }
        if (isTerminal(pod)) {
            return;
        }
        synchronized (this) {
            if (workers.containsKey(uid) || !node.running()) {
                return;
            }
            // A pod that already reported an IP keeps it (as after a node comes back); else it gets a new one.
            String ip = pod.getStatus() != null && LoopbackAddresses.isLoopback(pod.getStatus().getPodIP())
                    ? pod.getStatus().getPodIP() : addresses.nextPodIp();
            Path dir = root.resolve("pods").resolve(uid);
            PodWorker w = new PodWorker(this, node.spec(), pod, ip, dir);
            workers.put(uid, w);
            w.start();
        }
    }

    /** Stops the pod's processes within its grace period, then removes the object, as a kubelet confirms a deletion. */
    private void finishDeletion(Pod pod, PodWorker worker) {
        if (worker != null) {
            long grace = pod.getMetadata().getDeletionGracePeriodSeconds() == null ? 30 : pod.getMetadata().getDeletionGracePeriodSeconds();
            worker.terminate(Duration.ofSeconds(Math.min(grace, 30)));
        }
        try {
            client.pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName())
                    .withGracePeriod(0).delete();
        } catch (KubernetesClientException e) {
            LOG.log(Level.FINE, "final delete of " + pod.getMetadata().getName() + " failed", e);
        }
    }

    private void forget(Pod pod) {
        PodWorker w = workers.remove(pod.getMetadata().getUid());
        if (w != null) {
            w.kill();
            deleteTree(w.directory());
        }
    }

    private static boolean isTerminal(Pod pod) {
        String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
        return "Succeeded".equals(phase) || "Failed".equals(phase);
    }

    KubernetesClient client() { return client; }
    ImageTable images() { return images; }
    PodVolumes volumes() { return volumes; }
    ProbeRunner probes() { return probes; }
    ScheduledExecutorService scheduler() { return scheduler; }
    String apiServerHost() { return apiHost; }
    int apiServerPort() { return apiPort; }
    Path repo() { return repo; }

    Path logFile(Pod pod, String container) {
        return root.resolve("logs").resolve(pod.getMetadata().getNamespace() + "_" + pod.getMetadata().getName() + "_" + container + ".log");
    }

    void deleteShm(Pod pod) {
        deleteTree(Path.of("/dev/shm/farmem-pods").resolve(pod.getMetadata().getUid()));
    }

    /** Stops the heartbeats and kills every pod process; the Node objects stay (the cluster goes away with them). */
    @Override
    public synchronized void close() {
        informer.close();
        serviceProxy.close();
        nodes.values().forEach(LocalNode::stop);
        List.copyOf(workers.values()).forEach(PodWorker::kill);
        workers.clear();
        scheduler.shutdownNow();
        terminator.shutdownNow();
        try {
            scheduler.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void deleteTree(Path dir) {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + dir, e);
        }
    }
}
