package dev.farmem.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;
import dev.farmem.e2e.harness.kubelet.NodeSpec;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;

import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The proof: kubectl against the real control plane, the real scheduler, the local kubelet. */
class ClusterIT {
    @RegisterExtension
    static ControlPlaneExtension cluster = ControlPlaneExtension.withNodes(3);

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private static String ns;
    private static Kubectl kubectl;

    @BeforeAll
    static void namespace() {
        ns = cluster.createNamespace("e2e");
        kubectl = cluster.kubectl();
    }

    @AfterAll
    static void cleanUp() {
        if (kubectl != null) {
            kubectl.run("delete", "namespace", ns, "--wait=false");
        }
    }

    @Test
    void kubectlShowsReadyNodes() {
        String out = kubectl.run("get", "nodes", "--no-headers").check().out();
        assertThat(out.lines()).isNotEmpty().anyMatch(l -> l.split("\\s+")[1].equals("Ready"));
    }

    @Test
    void kubectlShowsTheLocalNodesWithZoneRackMemoryAndLeases() {
        cluster.local(); // the nodes this suite asked the local kubelet for
        String out = kubectl.run("get", "nodes", "-l", "farmem.dev/local-kubelet=true", "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.topology\\.kubernetes\\.io/zone} "
                        + "{.metadata.labels.topology\\.farmem\\.dev/rack} {.status.allocatable.memory} "
                        + "{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}").check().out();
        assertThat(out.lines()).contains(
                "node-1 zone-a rack-1 " + NodeSpec.DEFAULT_MEMORY + " True",
                "node-2 zone-b rack-2 " + NodeSpec.DEFAULT_MEMORY + " True",
                "node-3 zone-c rack-3 " + NodeSpec.DEFAULT_MEMORY + " True");
        String leases = kubectl.run("get", "leases", "-n", "kube-node-lease", "-o", "name").check().out();
        assertThat(leases).contains("lease.coordination.k8s.io/node-1", "lease.coordination.k8s.io/node-3");
    }

    @Test
    void kubectlVersionShowsTheServersRealVersion() {
        cluster.local(); // the pinned version is only known for the local control plane
        String out = kubectl.run("version", "-o", "json").check().out();
        assertThat(out).contains("\"gitVersion\": \"" + Binaries.locate().kubernetesVersion() + "\"");
    }

    @Test
    void deploymentOfAFarmemImageIsScheduledRunsAndIsReadyThenGarbageCollected() throws Exception {
        kubectl.runWithInput(resource("probe-deployment.yaml"), "apply", "-n", ns, "-f", "-").check();
        kubectl.run("wait", "-n", ns, "--for=condition=Available", "deployment/probe", "--timeout=90s").check();

        List<Pod> pods = cluster.client().pods().inNamespace(ns).withLabel("app", "probe").list().getItems();
        assertThat(pods).hasSize(2);
        for (Pod pod : pods) {
            assertThat(pod.getSpec().getNodeName()).matches("node-\\d+");
            assertThat(pod.getStatus().getPhase()).isEqualTo("Running");
            assertThat(pod.getStatus().getPodIP()).startsWith("127.");
            assertThat(condition(pod, "Ready")).isEqualTo("True");
            assertThat(pod.getStatus().getContainerStatuses().get(0).getState().getRunning()).isNotNull();
            String ip = pod.getStatus().getPodIP();
            // the process got the Downward API, a secretKeyRef and its Secret volume at a path it was told
            assertThat(get(ip, "/env?name=NODE_NAME")).isEqualTo(pod.getSpec().getNodeName());
            assertThat(get(ip, "/env?name=POD_IP")).isEqualTo(ip);
            assertThat(get(ip, "/env?name=GREETING")).isEqualTo("hello-from-a-secret");
            assertThat(get(ip, "/file?path=" + URLEncoder.encode(get(ip, "/env?name=GREETING_FILE"), StandardCharsets.UTF_8)))
                    .isEqualTo("hello-from-a-secret");
        }
        String events = kubectl.run("get", "events", "-n", ns, "--field-selector", "reason=Scheduled", "-o",
                "jsonpath={range .items[*]}{.source.component}{.reportingComponent}{\"\\n\"}{end}").check().out();
        assertThat(events).contains("default-scheduler");

        kubectl.run("delete", "-n", ns, "deployment/probe").check();
        await("the Deployment's pods are garbage-collected", Duration.ofSeconds(60),
                () -> cluster.client().pods().inNamespace(ns).withLabel("app", "probe").list().getItems().isEmpty());
        for (Pod pod : pods) {
            assertThat(reachable(pod.getStatus().getPodIP())).as("process of deleted pod %s", pod.getMetadata().getName()).isFalse();
        }
    }

    @Test
    void aPodReachesTheApiServerWithInClusterConfig() throws Exception {
        kubectl.run("create", "rolebinding", "probe-view", "-n", ns, "--clusterrole=view", "--serviceaccount=" + ns + ":default").check();
        Pod pod = runProbePod("in-cluster", "Always");
        assertThat(get(pod.getStatus().getPodIP(), "/pods")).isEqualTo(ns + " " + cluster.client().pods().inNamespace(ns).list().getItems().size());
    }

    @Test
    void aChangedSecretReachesTheMountedFileOfARunningPod() throws Exception {
        kubectl.run("create", "secret", "generic", "live", "-n", ns, "--from-literal=key=v1").check();
        kubectl.runWithInput("""
                apiVersion: v1
                kind: Pod
                metadata: {name: live-secret}
                spec:
                  containers:
                    - name: app
                      image: farmem-e2e:dev
                      args: [probe-app, --port, "8080"]
                      env:
                        - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
                        - {name: KEY_FILE, value: /etc/live/key}
                      volumeMounts: [{name: live, mountPath: /etc/live}]
                      readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
                  volumes: [{name: live, secret: {secretName: live}}]
                """, "apply", "-n", ns, "-f", "-").check();
        kubectl.run("wait", "-n", ns, "--for=condition=Ready", "pod/live-secret", "--timeout=60s").check();
        String ip = cluster.client().pods().inNamespace(ns).withName("live-secret").get().getStatus().getPodIP();
        String file = URLEncoder.encode(get(ip, "/env?name=KEY_FILE"), StandardCharsets.UTF_8);
        assertThat(get(ip, "/file?path=" + file)).isEqualTo("v1");

        kubectl.runWithInput("""
                apiVersion: v1
                kind: Secret
                metadata: {name: live}
                stringData: {key: v2}
                """, "apply", "-n", ns, "-f", "-").check();
        await("the new Secret value in the file", Duration.ofSeconds(40), () -> {
            try {
                return get(ip, "/file?path=" + file).equals("v2");
            } catch (IOException | InterruptedException e) {
                return false;
            }
        });
    }

    @Test
    void servicesAnswerOnTheirLoopbackClusterIpsAndFailClosedWithoutAReadyPod() throws Exception {
        cluster.local(); // on a real cluster ClusterIPs are the CNI's business
        // the kubernetes Service leads to the API server, whose certificate names its ClusterIP
        String apiIp = cluster.client().services().inNamespace("default").withName("kubernetes").get().getSpec().getClusterIP();
        assertThat(apiIp).startsWith("127.");
        Config viaService = new ConfigBuilder(Config.fromKubeconfig(Files.readString(cluster.kubeconfig())))
                .withMasterUrl("https://" + apiIp + ":443").build();
        try (KubernetesClient client = new KubernetesClientBuilder().withConfig(viaService).build()) {
            assertThat(client.getKubernetesVersion().getGitVersion()).startsWith("v1.");
        }

        runProbePod("served", "Always");
        kubectl.run("label", "pod", "served", "-n", ns, "role=served").check();
        kubectl.run("create", "service", "clusterip", "served", "-n", ns, "--tcp=80:8080").check();
        kubectl.run("set", "selector", "service", "served", "-n", ns, "role=served").check();
        kubectl.run("create", "service", "clusterip", "nobody", "-n", ns, "--tcp=80:8080").check();
        kubectl.run("set", "selector", "service", "nobody", "-n", ns, "role=absent").check();
        String served = kubectl.run("get", "service", "served", "-n", ns, "-o", "jsonpath={.spec.clusterIP}").check().out();
        String nobody = kubectl.run("get", "service", "nobody", "-n", ns, "-o", "jsonpath={.spec.clusterIP}").check().out();
        assertThat(served).startsWith("127.");
        await("the service answers on its ClusterIP", Duration.ofSeconds(20), () -> {
            try {
                return HTTP.send(HttpRequest.newBuilder(URI.create("http://" + served + ":80/healthz")).timeout(Duration.ofSeconds(5)).build(),
                        HttpResponse.BodyHandlers.ofString()).body().equals("ok");
            } catch (IOException | InterruptedException e) {
                return false;
            }
        });
        await("the service's listener is up", Duration.ofSeconds(20), () -> connects(nobody));
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(nobody, 80), 2000);
            s.setSoTimeout(5000);
            assertThat(s.getInputStream().read()).as("a Service without a Ready pod closes the connection").isEqualTo(-1);
        }
    }

    private static boolean connects(String ip) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(ip, 80), 1000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    @Test
    void aContainerThatDiesIsRestartedPerRestartPolicy() throws Exception {
        Pod pod = runProbePod("crasher", "Always");
        get(pod.getStatus().getPodIP(), "/exit?code=3");
        await("restart after the crash", Duration.ofSeconds(60), () -> {
            Pod p = cluster.client().pods().inNamespace(ns).withName("crasher").get();
            var cs = p.getStatus().getContainerStatuses().get(0);
            return cs.getRestartCount() == 1 && cs.getReady() && cs.getLastState().getTerminated() != null
                    && cs.getLastState().getTerminated().getExitCode() == 3;
        });

        String events = kubectl.run("get", "events", "-n", ns, "--field-selector", "involvedObject.name=crasher",
                "-o", "jsonpath={range .items[*]}{.source.component} {.reason}{\"\\n\"}{end}").check().out();
        assertThat(events.lines()).contains("kubelet Started", "kubelet BackOff");

        Pod once = runProbePod("once", "Never");
        get(once.getStatus().getPodIP(), "/exit?code=0");
        await("a Never pod whose process exits 0 Succeeds", Duration.ofSeconds(30),
                () -> "Succeeded".equals(cluster.client().pods().inNamespace(ns).withName("once").get().getStatus().getPhase()));
    }

    @Test
    void initContainersRunFirstAndANativeSidecarSharesThePodsAddress() throws Exception {
        kubectl.runWithInput("""
                apiVersion: v1
                kind: Pod
                metadata: {name: with-sidecar}
                spec:
                  initContainers:
                    - name: setup
                      image: farmem-e2e:dev
                      args: [help]
                    - name: sidecar
                      image: farmem-sidecar-like/farmem-e2e:dev
                      restartPolicy: Always
                      args: [probe-app, --port, "8081"]
                      env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
                      readinessProbe: {tcpSocket: {port: 8081}, periodSeconds: 1}
                  containers:
                    - name: app
                      image: farmem-e2e:dev
                      args: [probe-app, --port, "8080"]
                      env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
                      readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
                """, "apply", "-n", ns, "-f", "-").check();
        kubectl.run("wait", "-n", ns, "--for=condition=Ready", "pod/with-sidecar", "--timeout=60s").check();
        Pod pod = cluster.client().pods().inNamespace(ns).withName("with-sidecar").get();
        var inits = pod.getStatus().getInitContainerStatuses();
        assertThat(inits.get(0).getState().getTerminated().getExitCode()).isZero();
        assertThat(inits.get(1).getState().getRunning()).isNotNull();
        assertThat(condition(pod, "Initialized")).isEqualTo("True");
        String ip = pod.getStatus().getPodIP();
        assertThat(get(ip, "/healthz")).isEqualTo("ok");
        HttpResponse<String> sidecar = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + ip + ":8081/env?name=POD_IP")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(sidecar.body()).isEqualTo(ip);
    }

    @Test
    void anImageTheKubeletDoesNotKnowStaysWaitingSayingWhy() {
        kubectl.run("run", "nginx", "-n", ns, "--image=nginx:1.27", "--restart=Never").check();
        await("the unknown image is reported", Duration.ofSeconds(30), () -> {
            Pod p = cluster.client().pods().inNamespace(ns).withName("nginx").get();
            return p.getStatus().getContainerStatuses() != null && !p.getStatus().getContainerStatuses().isEmpty()
                    && p.getStatus().getContainerStatuses().get(0).getState().getWaiting() != null;
        });
        var waiting = cluster.client().pods().inNamespace(ns).withName("nginx").get().getStatus().getContainerStatuses().get(0).getState().getWaiting();
        assertThat(waiting.getReason()).isEqualTo("ErrImageNeverPull");
        assertThat(waiting.getMessage()).contains("nginx:1.27", "farmem-agent");
        assertThat(kubectl.run("describe", "pod", "nginx", "-n", ns).check().out()).contains("Failed", "is not present");
        assertThat(cluster.client().pods().inNamespace(ns).withName("nginx").get().getStatus().getPhase()).isEqualTo("Pending");
    }

    @Test
    void aStoppedNodeBecomesNotReadyAndItsProcessesDie() throws Exception {
        NodeSpec lost = NodeSpec.of("node-lost", "zone-a", "rack-9");
        cluster.startNode(lost);
        Pod pod = runProbePod("on-lost-node", "Always", "node-lost");
        assertThat(reachable(pod.getStatus().getPodIP())).isTrue();

        cluster.stopNode("node-lost");
        assertThat(reachable(pod.getStatus().getPodIP())).isFalse();
        await("node-lost NotReady", Duration.ofSeconds(60), () -> {
            String status = kubectl.run("get", "node", "node-lost", "-o",
                    "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}").check().out();
            return status.equals("Unknown") || status.equals("False");
        });
        assertThat(kubectl.run("get", "node", "node-lost").check().out()).contains("NotReady");
        cluster.client().nodes().withName("node-lost").delete();
    }

    /** A bare pod of the probe image, returned once it is Ready. */
    private static Pod runProbePod(String name, String restartPolicy, String... node) {
        PodBuilder b = new PodBuilder().withNewMetadata().withName(name).endMetadata().withNewSpec()
                .withRestartPolicy(restartPolicy)
                .addNewContainer().withName("app").withImage("farmem-e2e:dev").withArgs("probe-app", "--port", "8080")
                .addNewEnv().withName("POD_IP").withNewValueFrom().withNewFieldRef().withFieldPath("status.podIP").endFieldRef().endValueFrom().endEnv()
                .withNewReadinessProbe().withNewHttpGet().withPath("/healthz").withNewPort(8080).endHttpGet().withPeriodSeconds(1).endReadinessProbe()
                .endContainer().endSpec();
        if (node.length > 0) {
            b.editSpec().withNodeSelector(java.util.Map.of("kubernetes.io/hostname", node[0])).endSpec();
        }
        cluster.client().pods().inNamespace(ns).resource(b.build()).create();
        await("pod " + name + " Ready", Duration.ofSeconds(60), () -> {
            Pod p = cluster.client().pods().inNamespace(ns).withName(name).get();
            return p != null && "True".equals(condition(p, "Ready"));
        });
        return cluster.client().pods().inNamespace(ns).withName(name).get();
    }

    private static String condition(Pod pod, String type) {
        return pod.getStatus().getConditions().stream().filter(c -> type.equals(c.getType()))
                .map(PodCondition::getStatus).findFirst().orElse("absent");
    }

    private static String get(String ip, String path) throws IOException, InterruptedException {
        assertThat(ip).startsWith("127."); // never dial outside loopback
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + ip + ":8080" + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        return r.body();
    }

    private static boolean reachable(String ip) {
        try {
            get(ip, "/healthz");
            return true;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static void await(String what, Duration timeout, BooleanSupplier done) {
        Instant deadline = Instant.now().plus(timeout);
        while (!done.getAsBoolean()) {
            if (Instant.now().isAfter(deadline)) {
                throw new AssertionError("timed out after " + timeout.toSeconds() + " s waiting for " + what + "; pods now:\n"
                        + kubectl.run("get", "pods", "-n", ns, "-o", "custom-columns=NAME:.metadata.name,PHASE:.status.phase,"
                        + "STATES:.status.containerStatuses[*].state,RESTARTS:.status.containerStatuses[*].restartCount").out());
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted waiting for " + what, e);
            }
        }
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = ClusterIT.class.getResourceAsStream(name)) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

}
