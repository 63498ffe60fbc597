package dev.farmem.e2e.harness.node;

import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ClusterNetwork;
import dev.farmem.e2e.harness.Command;
import dev.farmem.e2e.harness.ControlPlane;
import dev.farmem.e2e.harness.LocalProcess;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/**
 * One real node: its own containerd (with runc and the CNI bridge plugin), a kubelet and kube-proxy, all in the
 * node's network namespace, as a kind node runs them but without a container around them. Each node has its own
 * state directory, containerd socket, pod log directory and cgroup parent, so kubelets never see each other's pods.
 *
 * <p>Faults, as a test causes them: {@link #powerOff()} kills the node's processes and every container (the Node
 * goes NotReady), {@link #start()} boots it again; {@link #partition()} cuts its link to the cluster and
 * {@link #heal()} restores it.
 */
public final class ClusterNode implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);
    /** The kubelet's hard eviction threshold for memory; allocatable = machine - reserved - this. */
    private static final long EVICTION_MEMORY = 100L << 20;

    private final NodeSpec spec;
    private final int index;
    private final ControlPlane controlPlane;
    private final ClusterNetwork network;
    private final Binaries binaries;
    private final NodeImages images;
    private final Path dir;
    private final Path logs;
    private final List<LocalProcess> processes = new ArrayList<>();
    private boolean configured;
    private boolean imagesLoaded;
    private boolean running;

    public ClusterNode(NodeSpec spec, int index, ControlPlane controlPlane, Binaries binaries, NodeImages images) {
        this.spec = spec;
        this.index = index;
        this.controlPlane = controlPlane;
        this.network = controlPlane.network();
        this.binaries = binaries;
        this.images = images;
        this.dir = controlPlane.directory().resolve("nodes").resolve(Integer.toString(index));
        this.logs = controlPlane.directory().resolve("logs");
    }

    public NodeSpec spec() { return spec; }
    public String name() { return spec.name(); }
    public String address() { return network.nodeAddress(index); }
    public String podCidr() { return network.podCidr(index); }
    public synchronized boolean isRunning() { return running; }

    /** Brings the node up (or back up after {@link #powerOff()}): network, containerd, images, kubelet, kube-proxy. */
    public synchronized void start() {
        if (running) {
            return;
        }
        network.node("up", index, null);
        if (!configured) {
            writeConfiguration();
            configured = true;
        }
        LocalProcess containerd = launch("containerd", List.of("/usr/bin/containerd", "--config", dir.resolve("containerd.toml").toString()));
        containerd.awaitReady("containerd socket", START_TIMEOUT, () -> Files.exists(dir.resolve("containerd.sock")) && ctr("version") == 0);
        if (!imagesLoaded) {
            for (Path archive : images.forImport(controlPlane.directory())) {
                if (ctr("images", "import", archive.toString()) != 0) {
                    throw new IllegalStateException("node " + name() + ": ctr images import " + archive + " failed; see " + logs);
                }
            }
            imagesLoaded = true;
        }
        launch("kubelet", List.of(binaries.kubelet().toString(),
                "--config=" + dir.resolve("kubelet.yaml"),
                "--kubeconfig=" + dir.resolve("kubelet.kubeconfig"),
                "--hostname-override=" + name(),
                "--node-ip=" + address(),
                "--root-dir=" + dir.resolve("kubelet"),
                "--cert-dir=" + dir.resolve("kubelet-pki"),
                "--node-labels=" + spec.labels().entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).collect(Collectors.joining(",")),
                "--register-with-taints=" + String.join(",", spec.taints()),
                "--v=1"));
        launch("kube-proxy", List.of(binaries.kubeProxy().toString(), "--config=" + dir.resolve("kube-proxy.yaml"), "--v=1"));
        running = true;
    }

    /**
     * Gives an image this node holds a second name, as a registry push of the same image under a new tag would:
     * a pod spec naming {@code target} then runs {@code source}'s content (how a test rolls to a "new" image).
     */
    public synchronized void tagImage(String source, String target) {
        if (!running) throw new IllegalStateException("node " + name() + " is not running: cannot tag " + source);
        if (ctr("images", "tag", "--force", source, target) != 0) {
            throw new IllegalStateException("node " + name() + ": ctr images tag " + source + " " + target + " failed; see " + logs);
        }
    }

    /** Power loss: the kubelet, kube-proxy, containerd and every container die at once, and the link goes down. */
    public synchronized void powerOff() {
        for (LocalProcess p : processes) {
            p.kill();
        }
        processes.clear();
        network.node("kill", index, dir);
        network.node("cut", index, null);
        running = false;
    }

    /** A network partition: the node runs on, but nothing reaches it and it reaches nothing. */
    public void partition() {
        network.node("cut", index, null);
    }

    public void heal() {
        network.node("heal", index, null);
    }

    /** Stops everything and removes the node's namespace, mounts, cgroups and directory. */
    @Override
    public synchronized void close() {
        for (LocalProcess p : processes) {
            p.stop(Duration.ofSeconds(2));
        }
        processes.clear();
        running = false;
        network.node("down", index, dir);
    }

    private void writeConfiguration() {
        try {
            Files.createDirectories(dir.resolve("cni"));
            Path[] kubelet = controlPlane.pki().issue("node-" + index, "system:node:" + name(), "system:nodes");
            controlPlane.writeKubeconfig(dir.resolve("kubelet.kubeconfig"), kubelet[0], kubelet[1]);
            Path[] proxy = controlPlane.pki().issue("kube-proxy-" + index, "system:kube-proxy", null);
            controlPlane.writeKubeconfig(dir.resolve("kube-proxy.kubeconfig"), proxy[0], proxy[1]);
            // no resolver outside the pod: a lookup of a name outside the cluster fails at once, it never leaves
            Files.writeString(dir.resolve("resolv.conf"), "nameserver 127.0.0.1\noptions ndots:1 timeout:1 attempts:1\n");
            Files.writeString(dir.resolve("containerd.toml"), containerdConfig());
            Files.writeString(dir.resolve("cni/10-farmem.conflist"), cniConfig());
            Files.writeString(dir.resolve("kubelet.yaml"), kubeletConfig());
            Files.writeString(dir.resolve("kube-proxy.yaml"), kubeProxyConfig());
        } catch (IOException e) {
            throw new UncheckedIOException("node " + name() + ": cannot write its configuration in " + dir, e);
        }
    }

    private String containerdConfig() {
        // restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, and runc would fail to lower a score
        return """
                version = 2
                root = "%1$s/containerd/root"
                state = "%1$s/containerd/state"
                [grpc]
                  address = "%1$s/containerd.sock"
                [ttrpc]
                  address = "%1$s/containerd-ttrpc.sock"
                [metrics]
                  address = ""
                [plugins."io.containerd.grpc.v1.cri"]
                  sandbox_image = "%2$s"
                  restrict_oom_score_adj = true
                  netns_mounts_under_state_dir = true
                  stream_server_address = "127.0.0.1"
                  [plugins."io.containerd.grpc.v1.cri".containerd]
                    snapshotter = "overlayfs"
                    default_runtime_name = "runc"
                    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
                      runtime_type = "io.containerd.runc.v2"
                      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
                        BinaryName = "/usr/sbin/runc"
                        Root = "%1$s/runc"
                        SystemdCgroup = false
                  [plugins."io.containerd.grpc.v1.cri".cni]
                    bin_dir = "/usr/lib/cni"
                    conf_dir = "%1$s/cni"
                """.formatted(dir, PAUSE_IMAGE);
    }

    /** The sandbox image: images/build-pause tags its archive with this name. */
    public static final String PAUSE_IMAGE = "ghcr.io/farmem/pause:3.10-farmem.1";

    private String cniConfig() {
        // the pods' default route ends in the node, which has none: only the cluster's own addresses are reachable
        return """
                {"cniVersion": "0.4.0", "name": "farmem", "plugins": [
                  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
                   "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s"}]], "routes": [{"dst": "0.0.0.0/0"}],
                            "dataDir": "%s"}},
                  {"type": "portmap", "capabilities": {"portMappings": true}},
                  {"type": "loopback"}]}
                """.formatted(podCidr(), dir.resolve("cni-ipam"));
    }

    private String kubeletConfig() {
        long reserved = Math.max(0, machineMemory() - spec.memoryBytes() - EVICTION_MEMORY);
        return """
                apiVersion: kubelet.config.k8s.io/v1beta1
                kind: KubeletConfiguration
                address: %1$s
                port: 10250
                readOnlyPort: 0
                healthzBindAddress: 127.0.0.1
                healthzPort: 10248
                authentication:
                  anonymous: {enabled: false}
                  webhook: {enabled: true}
                  x509: {clientCAFile: %2$s}
                authorization: {mode: Webhook}
                cgroupDriver: cgroupfs
                cgroupRoot: %3$s
                failSwapOn: false
                failCgroupV1: false
                containerRuntimeEndpoint: unix://%4$s/containerd.sock
                podLogsDir: %4$s/pod-logs
                resolvConf: %4$s/resolv.conf
                clusterDomain: cluster.local
                kubeReserved: {memory: "%5$d"}
                evictionHard: {memory.available: "%6$d", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
                imageGCHighThresholdPercent: 100
                imageGCLowThresholdPercent: 99
                maxPods: %7$d
                nodeStatusUpdateFrequency: 2s
                nodeStatusReportFrequency: 10s
                nodeLeaseDurationSeconds: 8
                syncFrequency: 10s
                serializeImagePulls: false
                enforceNodeAllocatable: [pods]
                """.formatted(address(), controlPlane.pki().caCert(), network.cgroupRoot(index), dir, reserved, EVICTION_MEMORY, spec.maxPods());
    }

    private String kubeProxyConfig() {
        // conntrack: 0 leaves the machine-wide conntrack settings alone
        return """
                apiVersion: kubeproxy.config.k8s.io/v1alpha1
                kind: KubeProxyConfiguration
                clientConnection: {kubeconfig: %1$s/kube-proxy.kubeconfig}
                hostnameOverride: %2$s
                bindAddress: %3$s
                healthzBindAddress: 127.0.0.1:10256
                metricsBindAddress: 127.0.0.1:10249
                clusterCIDR: %4$s
                mode: iptables
                iptables: {localhostNodePorts: false}
                nodePortAddresses: [%3$s/32]
                conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
                """.formatted(dir, name(), address(), network.podCidrs());
    }

    private LocalProcess launch(String component, List<String> command) {
        List<String> inNode = new ArrayList<>(List.of("nsenter", "--net=/var/run/netns/" + network.netns(index), "--"));
        inNode.addAll(command);
        LocalProcess p = LocalProcess.start(name() + "/" + component, inNode, dir, Map.of("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
                logs.resolve(name() + "-" + component + ".log"));
        processes.add(p);
        return p;
    }

    /** Runs ctr against this node's containerd; its output goes to the node's ctr log. */
    private int ctr(String... args) {
        List<String> command = new ArrayList<>(List.of("ctr", "--address", dir.resolve("containerd.sock").toString(), "-n", "k8s.io"));
        command.addAll(List.of(args));
        Command result = Command.run(null, Duration.ofSeconds(120), command);
        try {
            Files.writeString(logs.resolve(name() + "-ctr.log"), result.output(), StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the ctr log in " + logs, e);
        }
        return result.exitCode();
    }


    private static long machineMemory() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"), StandardCharsets.UTF_8)) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read /proc/meminfo", e);
        }
        throw new IllegalStateException("/proc/meminfo has no MemTotal");
    }
}
