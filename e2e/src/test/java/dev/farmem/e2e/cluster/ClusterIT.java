package dev.farmem.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.e2e.harness.Binaries;
import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;
import dev.farmem.e2e.harness.node.NodeSpec;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.PodCondition;

import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The test bed itself: kubectl against the real control plane, the real scheduler, real kubelets with containerd. */
class ClusterIT {
    static final String PROBE_IMAGE = "ghcr.io/farmem/farmem-e2e:0.1.0";
    /** The nodes the fault tests power off and cut: only their own pods go there. */
    /** An image of farmem's registry that no build makes, so no node has it. */
    static final String MISSING_IMAGE = "ghcr.io/farmem/farmem-never-built:0.0.0";
    static final String FAULT_TAINT = "farmem.dev/e2e-fault=true:NoSchedule";

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
    void kubectlShowsRealKubeletsOnContainerdWithZoneRackMemoryAndLeases() {
        cluster.local(); // the nodes this suite asked for
        String out = kubectl.run("get", "nodes", "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.topology\\.kubernetes\\.io/zone} "
                        + "{.metadata.labels.topology\\.farmem\\.dev/rack} {.status.nodeInfo.kubeletVersion} "
                        + "{.status.nodeInfo.containerRuntimeVersion} {.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}").check().out();
        String version = Binaries.locate().kubernetesVersion();
        assertThat(out.lines()).anyMatch(l -> l.matches("node-1 zone-a rack-1 " + version + " containerd://1\\.\\S+ True"))
                .anyMatch(l -> l.matches("node-2 zone-b rack-2 " + version + " containerd://1\\.\\S+ True"))
                .anyMatch(l -> l.matches("node-3 zone-c rack-3 " + version + " containerd://1\\.\\S+ True"));
        // the kubelet reserves the rest of the machine: pods may use what the node offers
        long allocatable = cluster.client().nodes().withName("node-1").get().getStatus().getAllocatable().get("memory").getNumericalAmount().longValue();
        assertThat(allocatable).isBetween(1L << 30, NodeSpec.DEFAULT_MEMORY);
        assertThat(kubectl.run("get", "nodes", "-o", "wide").check().out()).contains("containerd://", version);
        // every container of every pod runs one of farmem's images (the sandboxes run the project's pause image)
        String images = kubectl.run("get", "pods", "-A", "-o", "jsonpath={..image}").check().out();
        assertThat(images.split("\\s+")).allMatch(i -> i.isEmpty() || i.startsWith("ghcr.io/farmem/"));
        await("each kubelet's Lease in kube-node-lease", Duration.ofSeconds(30), () -> kubectl.run("get", "leases", "-n", "kube-node-lease",
                "-o", "name").check().out().lines().toList().containsAll(List.of("lease.coordination.k8s.io/node-1",
                "lease.coordination.k8s.io/node-2", "lease.coordination.k8s.io/node-3")));
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
            assertThat(pod.getStatus().getPodIP()).startsWith(podPrefix());
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
                      image: ghcr.io/farmem/farmem-e2e:0.1.0
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
    void servicesAnswerOnTheirClusterIpsThroughKubeProxyAndRefuseWithoutAReadyPod() throws Exception {
        Pod client = runProbePod("client", "Always");
        runProbePod("served", "Always");
        kubectl.run("label", "pod", "served", "-n", ns, "role=served").check();
        kubectl.run("create", "service", "clusterip", "served", "-n", ns, "--tcp=80:8080").check();
        kubectl.run("set", "selector", "service", "served", "-n", ns, "role=served").check();
        kubectl.run("create", "service", "clusterip", "nobody", "-n", ns, "--tcp=80:8080").check();
        kubectl.run("set", "selector", "service", "nobody", "-n", ns, "role=absent").check();
        String served = kubectl.run("get", "service", "served", "-n", ns, "-o", "jsonpath={.spec.clusterIP}").check().out();
        String nobody = kubectl.run("get", "service", "nobody", "-n", ns, "-o", "jsonpath={.spec.clusterIP}").check().out();
        // from inside a pod, as an application dials a Service: kube-proxy's rules on the pod's node translate it
        String fetch = "exec 3<>/dev/tcp/%s/80 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && tail -n 1 <&3";
        await("the service answers on its ClusterIP", Duration.ofSeconds(30), () -> kubectl.run("exec", "-n", ns, client.getMetadata().getName(),
                "--", "bash", "-c", fetch.formatted(served)).out().strip().equals("ok"));
        Kubectl.Result refused = kubectl.run("exec", "-n", ns, client.getMetadata().getName(), "--", "bash", "-c",
                "timeout 5 bash -c 'exec 3<>/dev/tcp/" + nobody + "/80' 2>&1; echo exit=$?");
        assertThat(refused.out()).as("a Service without a Ready pod refuses at once").contains("Connection refused").contains("exit=1");
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
        assertThat(events.lines()).contains("kubelet Pulled", "kubelet Started");

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
                      image: ghcr.io/farmem/farmem-e2e:0.1.0
                      args: [help]
                    - name: sidecar
                      image: ghcr.io/farmem/farmem-e2e:0.1.0
                      restartPolicy: Always
                      args: [probe-app, --port, "8081"]
                      env: [{name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}]
                      readinessProbe: {tcpSocket: {port: 8081}, periodSeconds: 1}
                  containers:
                    - name: app
                      image: ghcr.io/farmem/farmem-e2e:0.1.0
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
    void anImageTheNodeDoesNotHaveStaysWaitingSayingWhy() {
        // pull policy Never: no node here may reach a registry, and none is tried
        kubectl.run("run", "nginx", "-n", ns, "--image=" + MISSING_IMAGE, "--restart=Never", "--image-pull-policy=Never").check();
        await("the missing image is reported", Duration.ofSeconds(60), () -> {
            Pod p = cluster.client().pods().inNamespace(ns).withName("nginx").get();
            return p.getStatus().getContainerStatuses() != null && !p.getStatus().getContainerStatuses().isEmpty()
                    && p.getStatus().getContainerStatuses().get(0).getState().getWaiting() != null
                    && "ErrImageNeverPull".equals(p.getStatus().getContainerStatuses().get(0).getState().getWaiting().getReason());
        });
        var waiting = cluster.client().pods().inNamespace(ns).withName("nginx").get().getStatus().getContainerStatuses().get(0).getState().getWaiting();
        assertThat(waiting.getReason()).isEqualTo("ErrImageNeverPull");
        assertThat(waiting.getMessage()).contains(MISSING_IMAGE, "not present");
        assertThat(kubectl.run("describe", "pod", "nginx", "-n", ns).check().out()).contains("Failed", "is not present");
        assertThat(cluster.client().pods().inNamespace(ns).withName("nginx").get().getStatus().getPhase()).isEqualTo("Pending");
    }

    @Test
    void aStoppedNodeBecomesNotReadyAndItsContainersDieThenItBootsAgain() throws Exception {
        NodeSpec lost = NodeSpec.of("node-lost", "zone-a", "rack-9").withTaint(FAULT_TAINT);
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

        cluster.startNode(lost);
        await("the pod's container runs again on the rebooted node", Duration.ofSeconds(90), () -> reachable(pod.getStatus().getPodIP())
                || reachable(cluster.client().pods().inNamespace(ns).withName("on-lost-node").get().getStatus().getPodIP()));
        cluster.client().pods().inNamespace(ns).withName("on-lost-node").withGracePeriod(0).delete();
        cluster.stopNode("node-lost");
        cluster.client().nodes().withName("node-lost").delete();
    }

    @Test
    void aPartitionedNodeTurnsNotReadyAndReturnsWhenHealed() throws Exception {
        NodeSpec cut = NodeSpec.of("node-cut", "zone-b", "rack-8").withTaint(FAULT_TAINT);
        cluster.startNode(cut);
        Pod pod = runProbePod("on-cut-node", "Always", "node-cut");
        cluster.partitionNode("node-cut");
        try {
            assertThat(reachable(pod.getStatus().getPodIP())).as("nothing reaches a partitioned node's pods").isFalse();
            cluster.local().awaitNode("node-cut", false, Duration.ofSeconds(60));
        } finally {
            cluster.healNode("node-cut");
        }
        cluster.local().awaitNode("node-cut", true, Duration.ofSeconds(60));
        await("the pod answers again (it never stopped)", Duration.ofSeconds(30), () -> reachable(pod.getStatus().getPodIP()));
        cluster.client().pods().inNamespace(ns).withName("on-cut-node").withGracePeriod(0).delete();
        cluster.stopNode("node-cut");
        cluster.client().nodes().withName("node-cut").delete();
    }

    /** A bare pod of the probe image, returned once it is Ready. */
    private static Pod runProbePod(String name, String restartPolicy, String... node) {
        PodBuilder b = new PodBuilder().withNewMetadata().withName(name).endMetadata().withNewSpec()
                .withRestartPolicy(restartPolicy)
                .addNewContainer().withName("app").withImage(PROBE_IMAGE).withArgs("probe-app", "--port", "8080")
                .addNewEnv().withName("POD_IP").withNewValueFrom().withNewFieldRef().withFieldPath("status.podIP").endFieldRef().endValueFrom().endEnv()
                .withNewReadinessProbe().withNewHttpGet().withPath("/healthz").withNewPort(8080).endHttpGet().withPeriodSeconds(1).endReadinessProbe()
                .endContainer().endSpec();
        if (node.length > 0) {
            b.editSpec().withNodeSelector(Map.of("kubernetes.io/hostname", node[0]))
                    .addNewToleration().withKey("farmem.dev/e2e-fault").withOperator("Exists").withEffect("NoSchedule").endToleration().endSpec();
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
        assertThat(ip).startsWith(podPrefix()); // never dial anything but the cluster's own pods
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://" + ip + ":8080" + path))
                .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
        return r.body();
    }

    /** The start of every pod IP of the local cluster (10.K.), or "" for a KUBECONFIG cluster. */
    private static String podPrefix() {
        return cluster.isLocal() ? "10." + cluster.local().controlPlane().network().block() + "." : "";
    }

    private static boolean reachable(String ip) {
        try {
            HTTP.send(HttpRequest.newBuilder(URI.create("http://" + ip + ":8080/healthz")).timeout(Duration.ofSeconds(2)).build(),
                    HttpResponse.BodyHandlers.ofString());
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
