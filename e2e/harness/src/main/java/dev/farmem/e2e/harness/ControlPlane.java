package dev.farmem.e2e.harness;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.http.HttpRequest;
import io.fabric8.kubernetes.client.http.HttpResponse;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * etcd, kube-apiserver, kube-controller-manager and kube-scheduler in a directory of their own, with an admin
 * kubeconfig. The API server listens on the cluster's bridge address ({@link ClusterNetwork}), where the nodes'
 * kubelets and the pods reach it; etcd, the controller manager and the scheduler stay on 127.0.0.1.
 * {@link #close()} stops every process, takes the network down and deletes the directory.
 *
 * <p>People and controllers authenticate by static bearer tokens (admin in system:masters, the controller manager
 * and scheduler under their own user names, so RBAC's bootstrap bindings apply); kubelets and kube-proxy by client
 * certificates of the cluster's CA ({@link ClusterPki}), under the Node authorizer and NodeRestriction. The API
 * server serves a certificate it generates for its address and the first service IP, which is the CA everything
 * here trusts. It reaches kubelets by their InternalIP only, so it never asks the machine's resolver for a node name.
 */
public final class ControlPlane implements AutoCloseable {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(120);

    private final Path dir;
    private final boolean deleteOnClose;
    private final List<LocalProcess> processes = new ArrayList<>();
    private ClusterNetwork network;
    private ClusterPki pki;
    private final String adminToken = randomToken();
    private int apiserverPort;
    private Path kubeconfig;
    private Path caFile;
    private KubernetesClient client;
    private Process cleaner;

    private ControlPlane(Path dir, boolean deleteOnClose) {
        this.dir = dir;
        this.deleteOnClose = deleteOnClose;
    }

    /**
     * Starts a control plane in a new temporary directory that {@link #close()} deletes, unless
     * -Dfarmem.e2e.keep=true keeps it (logs of every component and pod) for a look after a failure.
     */
    public static ControlPlane start(Binaries binaries) {
        try {
            boolean keep = Boolean.getBoolean("farmem.e2e.keep");
            Path dir = Files.createTempDirectory("farmem-cp-");
            if (keep) {
                System.err.println("farmem.e2e.keep: the control plane's directory " + dir + " is kept after the run");
            }
            return start(binaries, dir, !keep);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create a directory for the control plane", e);
        }
    }

    /** Starts a control plane whose state lives in {@code dir} (created if needed, must be empty). */
    public static ControlPlane start(Binaries binaries, Path dir, boolean deleteOnClose) {
        ControlPlane cp = new ControlPlane(dir, deleteOnClose);
        try {
            if (deleteOnClose) {
                cp.cleaner = removeWhenJvmDies(dir);
            }
            cp.boot(binaries);
            return cp;
        } catch (RuntimeException | Error e) {
            cp.close();
            throw e;
        }
    }

    public KubernetesClient client() { return client; }
    public Path kubeconfig() { return kubeconfig; }
    public Path caFile() { return caFile; }
    public Path directory() { return dir; }
    public String apiServerHost() { return network.bridgeAddress(); }
    public int apiServerPort() { return apiserverPort; }
    public ClusterNetwork network() { return network; }
    public ClusterPki pki() { return pki; }

    private void boot(Binaries bin) {
        try {
            Files.createDirectories(dir.resolve("pki"));
            Path tokens = dir.resolve("pki/tokens.csv");
            String kcmToken = randomToken();
            String schedulerToken = randomToken();
            Files.writeString(tokens, String.join("\n",
                    adminToken + ",farmem-admin,farmem-admin,system:masters",
                    kcmToken + ",system:kube-controller-manager,system:kube-controller-manager",
                    schedulerToken + ",system:kube-scheduler,system:kube-scheduler") + "\n");
            writeServiceAccountKeys(dir.resolve("pki/sa.key"), dir.resolve("pki/sa.pub"));
            network = ClusterNetwork.create(bin.repo(), dir);
            pki = ClusterPki.create(dir.resolve("pki/clients"));
            Path[] kubeletClient = pki.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters");
            String host = network.bridgeAddress();

            int etcdPort = freePort();
            int etcdPeerPort = freePort();
            String etcdUrl = "http://127.0.0.1:" + etcdPort;
            LocalProcess etcd = launch("etcd", List.of(bin.etcd().toString(),
                    "--name=farmem", "--data-dir=" + dir.resolve("etcd"),
                    "--listen-client-urls=" + etcdUrl, "--advertise-client-urls=" + etcdUrl,
                    "--listen-peer-urls=http://127.0.0.1:" + etcdPeerPort,
                    "--initial-advertise-peer-urls=http://127.0.0.1:" + etcdPeerPort,
                    "--initial-cluster=farmem=http://127.0.0.1:" + etcdPeerPort,
                    // a test cluster: durability is not worth an fsync per write on a shared 2-core machine
                    "--unsafe-no-fsync=true", "--log-level=warn"));
            await("etcd listening on " + etcdPort, etcd, () -> listening(etcdPort));

            apiserverPort = freePort();
            Path certDir = dir.resolve("pki");
            LocalProcess apiserver = launch("kube-apiserver", List.of(bin.kubeApiserver().toString(),
                    "--etcd-servers=" + etcdUrl,
                    "--bind-address=" + host, "--advertise-address=" + host, "--secure-port=" + apiserverPort,
                    "--cert-dir=" + certDir,
                    "--token-auth-file=" + tokens,
                    "--authorization-mode=Node,RBAC",
                    "--client-ca-file=" + pki.caCert(),
                    "--kubelet-client-certificate=" + kubeletClient[0], "--kubelet-client-key=" + kubeletClient[1],
                    // dial kubelets at their InternalIP: never a DNS lookup of a node name through this machine's resolver
                    "--kubelet-preferred-address-types=InternalIP",
                    // webhooks and aggregated APIs are dialled at a Ready endpoint's pod IP, which this host routes to,
                    // as on a control plane that runs no kube-proxy of its own
                    "--enable-aggregator-routing=true",
                    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                    "--service-account-key-file=" + dir.resolve("pki/sa.pub"),
                    "--service-account-signing-key-file=" + dir.resolve("pki/sa.key"),
                    "--service-cluster-ip-range=" + network.serviceCidr(),
                    "--enable-admission-plugins=NamespaceLifecycle,NodeRestriction,LimitRanger,ServiceAccount,DefaultStorageClass,"
                            + "DefaultTolerationSeconds,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,"
                            + "ResourceQuota,Priority,PodSecurity,TaintNodesByCondition",
                    "--allow-privileged=true", "--profiling=false", "--v=1"));
            caFile = certDir.resolve("apiserver.crt");
            await("kube-apiserver serving certificate", apiserver, () -> Files.isRegularFile(caFile)
                    && Files.isRegularFile(certDir.resolve("apiserver.key")));
            kubeconfig = tokenKubeconfig(dir.resolve("admin.kubeconfig"), "farmem-admin", adminToken);
            client = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(Files.readString(kubeconfig))).build();
            await("kube-apiserver /readyz", apiserver, this::apiserverReady);

            Path kcmConfig = tokenKubeconfig(dir.resolve("controller-manager.kubeconfig"), "system:kube-controller-manager", kcmToken);
            LocalProcess kcm = launch("kube-controller-manager", List.of(bin.kubeControllerManager().toString(),
                    "--kubeconfig=" + kcmConfig,
                    "--bind-address=127.0.0.1", "--secure-port=" + freePort(),
                    "--leader-elect=false",
                    "--controllers=*",
                    "--service-account-private-key-file=" + dir.resolve("pki/sa.key"),
                    "--root-ca-file=" + caFile,
                    // each controller acts as its own ServiceAccount, as the bootstrap RBAC roles expect
                    "--use-service-account-credentials=true",
                    "--service-cluster-ip-range=" + network.serviceCidr(),
                    // each node's pod range is fixed by its index (ClusterNetwork), written into its CNI config
                    "--allocate-node-cidrs=false",
                    // a lost node shows as NotReady in seconds rather than the production 40-50 s; kubelets renew
                    // their Lease every 2 s (nodeLeaseDurationSeconds 8), so a busy machine does not flap them
                    "--node-monitor-period=1s", "--node-monitor-grace-period=16s",
                    "--concurrent-gc-syncs=5", "--v=1"));
            Path schedConfig = tokenKubeconfig(dir.resolve("scheduler.kubeconfig"), "system:kube-scheduler", schedulerToken);
            int schedulerPort = freePort();
            LocalProcess scheduler = launch("kube-scheduler", List.of(bin.kubeScheduler().toString(),
                    "--kubeconfig=" + schedConfig,
                    "--bind-address=127.0.0.1", "--secure-port=" + schedulerPort,
                    "--leader-elect=false", "--v=1"));
            // The controller manager is working once its service-account controller has made 'default'.
            await("kube-controller-manager (default ServiceAccount)", kcm,
                    () -> client.serviceAccounts().inNamespace("default").withName("default").get() != null);
            await("kube-scheduler listening on " + schedulerPort, scheduler, () -> listening(schedulerPort));
        } catch (IOException e) {
            throw new UncheckedIOException("control plane in " + dir + ": " + e.getMessage(), e);
        }
    }

    private LocalProcess launch(String name, List<String> command) {
        LocalProcess p = LocalProcess.start(name, command, dir, null, dir.resolve("logs").resolve(name + ".log"));
        processes.add(p);
        return p;
    }

    private boolean apiserverReady() {
        try {
            HttpRequest req = client.getHttpClient().newHttpRequestBuilder()
                    .uri(client.getConfiguration().getMasterUrl() + "readyz").build();
            HttpResponse<String> resp = client.getHttpClient().sendAsync(req, String.class).get(5, TimeUnit.SECONDS);
            return resp.code() == 200 && "ok".equals(resp.body().strip());
        } catch (Exception e) {
            return false;
        }
    }

    private void await(String what, LocalProcess process, BooleanSupplier ready) {
        process.awaitReady(what, START_TIMEOUT, ready);
    }

    private Path tokenKubeconfig(Path file, String user, String token) throws IOException {
        return kubeconfig(file, user, "token: " + token);
    }

    /** A kubeconfig that authenticates with a client certificate of {@link #pki()} (a kubelet's, kube-proxy's). */
    public Path writeKubeconfig(Path file, Path cert, Path key) {
        try {
            return kubeconfig(file, "client", "client-certificate: " + cert + "\n    client-key: " + key);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    private Path kubeconfig(Path file, String user, String credentials) throws IOException {
        String ca = Base64.getEncoder().encodeToString(Files.readAllBytes(caFile));
        String yaml = """
                apiVersion: v1
                kind: Config
                clusters:
                - name: farmem-local
                  cluster:
                    server: https://%s:%d
                    certificate-authority-data: %s
                users:
                - name: %s
                  user:
                    %s
                contexts:
                - name: farmem-local
                  context:
                    cluster: farmem-local
                    user: %s
                    namespace: default
                current-context: farmem-local
                """.formatted(network.bridgeAddress(), apiserverPort, ca, user, credentials, user);
        Files.writeString(file, yaml, StandardCharsets.UTF_8);
        return file;
    }

    /** Stops the scheduler, controller manager, API server and etcd (in that order) and deletes the directory. */
    @Override
    public synchronized void close() {
        if (client != null) {
            client.close();
            client = null;
        }
        for (int i = processes.size() - 1; i >= 0; i--) {
            processes.get(i).stop(Duration.ofSeconds(10));
        }
        processes.clear();
        if (network != null) {
            network.close();
        }
        if (deleteOnClose) {
            deleteTree(dir);
        }
        if (cleaner != null) {
            cleaner.destroyForcibly();
        }
    }

    /** After a SIGKILL of this JVM (no shutdown hook runs), the directory goes once the components are gone too. */
    private static Process removeWhenJvmDies(Path dir) {
        String script = "while kill -0 " + ProcessHandle.current().pid() + " 2>/dev/null; do sleep 1; done; sleep 15; rm -rf '"
                + dir.toString().replace("'", "") + "'";
        try {
            return new ProcessBuilder("sh", "-c", script).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the clean-up watcher for " + dir, e);
        }
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot delete " + root, e);
        }
    }

    private static void writeServiceAccountKeys(Path privateKey, Path publicKey) throws IOException {
        try {
            KeyPairGenerator gen = KeyPairGenerator.getInstance("RSA");
            gen.initialize(2048);
            KeyPair pair = gen.generateKeyPair();
            Files.writeString(privateKey, pem("PRIVATE KEY", pair.getPrivate().getEncoded()));
            Files.writeString(publicKey, pem("PUBLIC KEY", pair.getPublic().getEncoded()));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no RSA key generator", e);
        }
    }

    private static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    private static String randomToken() {
        byte[] b = new byte[24];
        new SecureRandom().nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** A port free on 127.0.0.1 now; the component binds it a moment later. */
    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port on 127.0.0.1", e);
        }
    }

    static boolean listening(int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
