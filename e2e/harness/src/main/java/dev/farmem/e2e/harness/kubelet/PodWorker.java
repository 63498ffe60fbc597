package dev.farmem.e2e.harness.kubelet;

import dev.farmem.e2e.harness.LocalProcess;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerState;
import io.fabric8.kubernetes.api.model.ContainerStateBuilder;
import io.fabric8.kubernetes.api.model.ContainerStatus;
import io.fabric8.kubernetes.api.model.ContainerStatusBuilder;
import io.fabric8.kubernetes.api.model.EnvFromSource;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.EventBuilder;
import io.fabric8.kubernetes.api.model.HostIPBuilder;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodCondition;
import io.fabric8.kubernetes.api.model.PodConditionBuilder;
import io.fabric8.kubernetes.api.model.PodIPBuilder;
import io.fabric8.kubernetes.api.model.PodStatus;
import io.fabric8.kubernetes.api.model.PodStatusBuilder;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.VolumeMount;
import io.fabric8.kubernetes.client.KubernetesClientException;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.fabric8.kubernetes.client.utils.Serialization;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs one pod bound to a local node: its volumes in a directory, each container as a local process on the pod's
 * 127.x address, probes, restarts per restartPolicy, and the pod's status written back like a kubelet writes it.
 */
final class PodWorker {
    private static final Logger LOG = Logger.getLogger(PodWorker.class.getName());
    private static final String SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
    /** How often Secret, ConfigMap and token volumes are brought up to date (the kubelet's sync is about a minute). */
    private static final long VOLUME_SYNC_SECONDS = 10;
    private static final Pattern VAR_REF = Pattern.compile("\\$\\$|\\$\\(([A-Za-z_][A-Za-z0-9_.-]*)\\)");

    private final LocalKubelet kubelet;
    private final NodeSpec node;
    private final String podIp;
    private final Path dir;
    private final String startTime = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
    private final Map<String, ContainerRun> inits = new LinkedHashMap<>();
    private final Map<String, ContainerRun> containers = new LinkedHashMap<>();
    private final Map<String, String[]> conditionSince = new HashMap<>();
    private volatile Pod pod;
    private Map<String, Path> volumes;
    private String configError;
    private String lastStatus;
    private boolean stopped;
    private ScheduledFuture<?> loop;
    private Instant nextVolumeSync = Instant.EPOCH;

    /** One container's process and what the kubelet remembers about it. */
    private static final class ContainerRun {
        final Container spec;
        /** An init container with restartPolicy Always: a sidecar that starts first and keeps running. */
        final boolean sidecar;
        final boolean init;
        final ImageTable.Entry image;
        LocalProcess process;
        int restarts;
        boolean restartPending;
        boolean finished;
        Instant startedAt;
        Instant nextStart = Instant.EPOCH;
        ContainerState lastTerminated;
        ContainerState terminated;
        String waitingReason = "ContainerCreating";
        String waitingMessage = "";
        boolean started;
        boolean ready;
        int readyFailures;
        int readySuccesses;
        int liveFailures;
        int startupFailures;
        Instant nextReadiness;
        Instant nextLiveness;
        Instant nextStartup;

        ContainerRun(Container spec, ImageTable.Entry image, boolean init) {
            this.spec = spec;
            this.image = image;
            this.init = init;
            this.sidecar = init && "Always".equals(spec.getRestartPolicy());
        }
    }

    PodWorker(LocalKubelet kubelet, NodeSpec node, Pod pod, String podIp, Path dir) {
        this.kubelet = kubelet;
        this.node = node;
        this.pod = pod;
        this.podIp = podIp;
        this.dir = dir;
        for (Container c : pod.getSpec().getContainers()) {
            containers.put(c.getName(), new ContainerRun(c, kubelet.images().resolve(c.getImage()).orElse(null), false));
        }
        for (Container c : pod.getSpec().getInitContainers() == null ? List.<Container>of() : pod.getSpec().getInitContainers()) {
            inits.put(c.getName(), new ContainerRun(c, kubelet.images().resolve(c.getImage()).orElse(null), true));
        }
    }

    String podIp() { return podIp; }
    Path directory() { return dir; }
    Pod pod() { return pod; }

    void start() {
        loop = kubelet.scheduler().scheduleWithFixedDelay(this::syncSafely, 0, 500, TimeUnit.MILLISECONDS);
    }

    void update(Pod latest) {
        this.pod = latest;
    }

    private void syncSafely() {
        try {
            sync();
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "sync of pod " + key() + " failed; retrying", e);
        }
    }

    private synchronized void sync() {
        if (stopped) {
            return;
        }
        if (volumes != null && Instant.now().isAfter(nextVolumeSync)) {
            try {
                kubelet.volumes().materialize(pod, fields(), node, dir);
            } catch (RuntimeException e) {
                LOG.log(Level.FINE, "volume refresh of " + key() + " failed; keeping the files as they are", e);
            }
            nextVolumeSync = Instant.now().plusSeconds(VOLUME_SYNC_SECONDS);
        }
        if (volumes == null) {
            nextVolumeSync = Instant.now().plusSeconds(VOLUME_SYNC_SECONDS);
            try {
                Files.createDirectories(dir);
                volumes = kubelet.volumes().materialize(pod, fields(), node, dir);
                configError = null;
            } catch (PodConfigException | KubernetesClientException e) {
                configError = e.getMessage();
            } catch (IOException | UncheckedIOException e) {
                configError = "cannot prepare pod directory " + dir + ": " + e.getMessage();
            }
        }
        boolean initialized = initialized(true);
        for (ContainerRun c : containers.values()) {
            if (initialized) {
                step(c);
            } else {
                waiting(c, "PodInitializing", "");
            }
        }
        publishStatus();
    }

    /**
     * Runs the init containers in order, each after the one before has succeeded (or, for a sidecar, started);
     * true once all have. With {@code act} false it only tells.
     */
    private boolean initialized(boolean act) {
        boolean previousDone = true;
        for (ContainerRun c : inits.values()) {
            if (!previousDone) {
                if (act) {
                    waiting(c, "PodInitializing", "");
                }
                continue;
            }
            if (act) {
                step(c);
            }
            previousDone = c.sidecar ? c.process != null && c.started
                    : c.finished && c.terminated.getTerminated().getExitCode() == 0;
        }
        return previousDone;
    }

    private void step(ContainerRun c) {
        Instant now = Instant.now();
        if (c.image == null) {
            waiting(c, "ErrImageNeverPull", "image " + c.spec.getImage() + " is not present: the farmem local kubelet runs only"
                    + " images of its table (" + kubelet.images().knownImages() + "), each as a built jar");
            return;
        }
        if (!Files.isRegularFile(c.image.jar())) {
            Path module = kubelet.repo().relativize(c.image.jar()).getName(0);
            waiting(c, "ErrImageNeverPull", "image " + c.spec.getImage() + " runs " + c.image.jar() + ", which is not built:"
                    + " run 'mvn -pl " + module + " -am package -DskipTests'");
            return;
        }
        if (c.process != null && !c.process.isAlive()) {
            int code = c.process.exitCode();
            c.terminated = new ContainerStateBuilder().withNewTerminated().withExitCode(code)
                    .withReason(code == 0 ? "Completed" : "Error").withStartedAt(c.startedAt.truncatedTo(ChronoUnit.SECONDS).toString())
                    .withFinishedAt(now.truncatedTo(ChronoUnit.SECONDS).toString())
                    .withContainerID(containerId(c)).endTerminated().build();
            c.process = null;
            c.ready = false;
            String policy = pod.getSpec().getRestartPolicy() == null ? "Always" : pod.getSpec().getRestartPolicy();
            boolean restart = c.sidecar || (c.init ? code != 0 && !"Never".equals(policy)
                    : "Always".equals(policy) || ("OnFailure".equals(policy) && code != 0));
            if (restart) {
                // the kubelet's crash-loop back-off, scaled down (1 s doubling to 20 s) for tests
                c.nextStart = now.plusSeconds(Math.min(20, 1L << Math.min(c.restarts, 5)));
                c.restartPending = true;
            } else {
                c.finished = true;
            }
        }
        if (c.process == null && !c.finished) {
            if (configError != null) {
                waiting(c, "CreateContainerConfigError", configError);
                return;
            }
            if (now.isBefore(c.nextStart)) {
                waiting(c, "CrashLoopBackOff", "back-off restarting failed container " + c.spec.getName() + " in pod " + key());
                return;
            }
            try {
                launch(c);
            } catch (PodConfigException | KubernetesClientException e) {
                waiting(c, "CreateContainerConfigError", e.getMessage());
                return;
            }
        }
        if (c.process != null) {
            probe(c, now);
        }
    }

    private void launch(ContainerRun c) {
        Map<String, String> mounts = mounts(c.spec);
        Map<String, String> env = environment(c.spec, mounts);
        List<String> command = command(c, mounts, env);
        Path workDir = c.spec.getWorkingDir() != null && !c.spec.getWorkingDir().isEmpty()
                ? Path.of(rewrite(c.spec.getWorkingDir(), mounts)) : dir.resolve("containers").resolve(c.spec.getName());
        try {
            Files.createDirectories(workDir);
        } catch (IOException e) {
            throw new PodConfigException("cannot create working directory " + workDir + ": " + e.getMessage());
        }
        if (c.restartPending) {
            c.restarts++;
            c.lastTerminated = c.terminated;
            c.restartPending = false;
        }
        c.terminated = null;
        c.waitingReason = "ContainerCreating";
        c.waitingMessage = "";
        c.process = LocalProcess.start(key() + "/" + c.spec.getName(), command, workDir, env, kubelet.logFile(pod, c.spec.getName()));
        event(c, "Normal", "Started", "Started container " + c.spec.getName() + " (pid " + c.process.pid() + ")");
        c.startedAt = Instant.now();
        c.started = c.spec.getStartupProbe() == null;
        c.ready = false;
        c.readyFailures = c.readySuccesses = c.liveFailures = c.startupFailures = 0;
        c.nextReadiness = c.startedAt.plusSeconds(initialDelay(c.spec.getReadinessProbe()));
        c.nextLiveness = c.startedAt.plusSeconds(initialDelay(c.spec.getLivenessProbe()));
        c.nextStartup = c.startedAt.plusSeconds(initialDelay(c.spec.getStartupProbe()));
    }

    private void probe(ContainerRun c, Instant now) {
        if (!c.started) {
            Probe p = c.spec.getStartupProbe();
            if (!now.isBefore(c.nextStartup)) {
                c.nextStartup = now.plusSeconds(period(p));
                ProbeRunner.Result r = kubelet.probes().run(p, c.spec, podIp);
                if (r.success()) {
                    c.started = true;
                } else if (++c.startupFailures >= threshold(p.getFailureThreshold(), 3)) {
                    event(c, "Warning", "Unhealthy", "Startup probe failed: " + r.detail());
                    event(c, "Normal", "Killing", "Container " + c.spec.getName() + " failed startup probe, will be restarted");
                    c.process.kill();
                }
            }
            return;
        }
        Probe live = c.spec.getLivenessProbe();
        if (live != null && !now.isBefore(c.nextLiveness)) {
            c.nextLiveness = now.plusSeconds(period(live));
            ProbeRunner.Result r = kubelet.probes().run(live, c.spec, podIp);
            if (r.success()) {
                c.liveFailures = 0;
            } else if (++c.liveFailures >= threshold(live.getFailureThreshold(), 3)) {
                event(c, "Warning", "Unhealthy", "Liveness probe failed: " + r.detail());
                event(c, "Normal", "Killing", "Container " + c.spec.getName() + " failed liveness probe, will be restarted");
                c.process.kill();
                return;
            }
        }
        Probe ready = c.spec.getReadinessProbe();
        if (ready == null) {
            c.ready = true;
        } else if (!now.isBefore(c.nextReadiness)) {
            c.nextReadiness = now.plusSeconds(period(ready));
            ProbeRunner.Result r = kubelet.probes().run(ready, c.spec, podIp);
            if (r.success()) {
                c.readyFailures = 0;
                if (++c.readySuccesses >= threshold(ready.getSuccessThreshold(), 1)) {
                    c.ready = true;
                }
            } else {
                c.readySuccesses = 0;
                if (++c.readyFailures >= threshold(ready.getFailureThreshold(), 3)) {
                    if (c.ready || c.readyFailures == threshold(ready.getFailureThreshold(), 3)) {
                        event(c, "Warning", "Unhealthy", "Readiness probe failed: " + r.detail());
                    }
                    c.ready = false;
                }
            }
        }
    }

    /** mountPath to local directory for one container; the paths rewritten in its command, args and env. */
    private Map<String, String> mounts(Container c) {
        Map<String, String> mounts = new LinkedHashMap<>();
        for (VolumeMount m : c.getVolumeMounts() == null ? List.<VolumeMount>of() : c.getVolumeMounts()) {
            Path v = volumes.get(m.getName());
            if (v == null) {
                throw new PodConfigException("container " + c.getName() + " mounts volume " + m.getName() + ", which the pod does not define");
            }
            mounts.put(m.getMountPath(), (m.getSubPath() == null || m.getSubPath().isEmpty() ? v : v.resolve(m.getSubPath())).toString());
        }
        return mounts;
    }

    private Map<String, String> environment(Container c, Map<String, String> mounts) {
        Map<String, String> env = new LinkedHashMap<>();
        for (String inherit : List.of("PATH", "LANG", "JAVA_HOME", "TZ")) {
            String v = System.getenv(inherit);
            if (v != null) {
                env.put(inherit, v);
            }
        }
        env.put("HOSTNAME", pod.getMetadata().getName());
        // In-cluster access as a kubelet gives it, but on loopback: the API server itself, not the kubernetes ClusterIP.
        env.put("KUBERNETES_SERVICE_HOST", kubelet.apiServerHost());
        env.put("KUBERNETES_SERVICE_PORT", Integer.toString(kubelet.apiServerPort()));
        env.put("KUBERNETES_SERVICE_PORT_HTTPS", Integer.toString(kubelet.apiServerPort()));
        env.put("KUBERNETES_PORT", "tcp://" + kubelet.apiServerHost() + ":" + kubelet.apiServerPort());
        // fabric8 reads the service-account files from fixed paths unless told: tell it where the volume is.
        env.put("KUBERNETES_AUTH_TRYKUBECONFIG", "false");
        String sa = mounts.get(SERVICE_ACCOUNT_MOUNT);
        if (sa != null) {
            env.put("KUBERNETES_AUTH_SERVICEACCOUNT_TOKEN", sa + "/token");
            env.put("KUBERNETES_CERTS_CA_FILE", sa + "/ca.crt");
            env.put("KUBENAMESPACE", sa + "/namespace");
        }
        String ns = pod.getMetadata().getNamespace();
        if (!Boolean.FALSE.equals(pod.getSpec().getEnableServiceLinks())) {
            // service links as the kubelet writes them; the ClusterIPs are loopback addresses the service proxy serves
            for (var svc : kubelet.client().services().inNamespace(ns).list().getItems()) {
                String ip = svc.getSpec().getClusterIP();
                boolean apiServer = "default".equals(ns) && "kubernetes".equals(svc.getMetadata().getName()); // set above
                if (apiServer || svc.getSpec().getPorts() == null || svc.getSpec().getPorts().isEmpty() || ip == null || "None".equals(ip)) {
                    continue;
                }
                String prefix = svc.getMetadata().getName().toUpperCase(Locale.ROOT).replace('-', '_');
                env.put(prefix + "_SERVICE_HOST", ip);
                env.put(prefix + "_SERVICE_PORT", Integer.toString(svc.getSpec().getPorts().get(0).getPort()));
            }
        }
        for (EnvFromSource from : c.getEnvFrom() == null ? List.<EnvFromSource>of() : c.getEnvFrom()) {
            String prefix = from.getPrefix() == null ? "" : from.getPrefix();
            Map<String, byte[]> data;
            if (from.getConfigMapRef() != null) {
                var cm = kubelet.client().configMaps().inNamespace(ns).withName(from.getConfigMapRef().getName()).get();
                if (cm == null && !Boolean.TRUE.equals(from.getConfigMapRef().getOptional())) {
                    throw new PodConfigException("configmap \"" + from.getConfigMapRef().getName() + "\" not found");
                }
                data = cm == null ? Map.of() : PodVolumes.decode(cm);
            } else {
                var s = kubelet.client().secrets().inNamespace(ns).withName(from.getSecretRef().getName()).get();
                if (s == null && !Boolean.TRUE.equals(from.getSecretRef().getOptional())) {
                    throw new PodConfigException("secret \"" + from.getSecretRef().getName() + "\" not found");
                }
                data = s == null ? Map.of() : PodVolumes.decode(s);
            }
            data.forEach((k, v) -> env.put(prefix + k, new String(v, StandardCharsets.UTF_8)));
        }
        PodFields fields = fields();
        for (EnvVar e : c.getEnv() == null ? List.<EnvVar>of() : c.getEnv()) {
            String value;
            if (e.getValueFrom() == null) {
                value = expand(e.getValue() == null ? "" : e.getValue(), env);
            } else if (e.getValueFrom().getFieldRef() != null) {
                value = fields.field(e.getValueFrom().getFieldRef().getFieldPath());
            } else if (e.getValueFrom().getResourceFieldRef() != null) {
                value = fields.resource(e.getValueFrom().getResourceFieldRef(), c.getName(), node);
            } else if (e.getValueFrom().getSecretKeyRef() != null) {
                var ref = e.getValueFrom().getSecretKeyRef();
                var s = kubelet.client().secrets().inNamespace(ns).withName(ref.getName()).get();
                byte[] v = s == null ? null : PodVolumes.decode(s).get(ref.getKey());
                if (v == null && !Boolean.TRUE.equals(ref.getOptional())) {
                    throw new PodConfigException(s == null ? "secret \"" + ref.getName() + "\" not found"
                            : "couldn't find key " + ref.getKey() + " in Secret " + ns + "/" + ref.getName());
                }
                if (v == null) {
                    continue;
                }
                value = new String(v, StandardCharsets.UTF_8);
            } else if (e.getValueFrom().getConfigMapKeyRef() != null) {
                var ref = e.getValueFrom().getConfigMapKeyRef();
                var cm = kubelet.client().configMaps().inNamespace(ns).withName(ref.getName()).get();
                byte[] v = cm == null ? null : PodVolumes.decode(cm).get(ref.getKey());
                if (v == null && !Boolean.TRUE.equals(ref.getOptional())) {
                    throw new PodConfigException(cm == null ? "configmap \"" + ref.getName() + "\" not found"
                            : "couldn't find key " + ref.getKey() + " in ConfigMap " + ns + "/" + ref.getName());
                }
                if (v == null) {
                    continue;
                }
                value = new String(v, StandardCharsets.UTF_8);
            } else {
                throw new PodConfigException("env " + e.getName() + " has a valueFrom this kubelet does not know");
            }
            env.put(e.getName(), rewrite(value, mounts));
        }
        return env;
    }

    private List<String> command(ContainerRun c, Map<String, String> mounts, Map<String, String> env) {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> args = new ArrayList<>();
        for (String a : c.spec.getArgs() == null ? List.<String>of() : c.spec.getArgs()) {
            args.add(rewrite(expand(a, env), mounts));
        }
        List<String> cmd = new ArrayList<>();
        List<String> given = c.spec.getCommand() == null ? List.of() : c.spec.getCommand();
        if (given.isEmpty()) {
            cmd.add(java);
            Quantity limit = c.spec.getResources() == null || c.spec.getResources().getLimits() == null ? null
                    : c.spec.getResources().getLimits().get("memory");
            if (limit != null) {
                // the JVM sizes its heap from the container's memory limit, as in a container
                cmd.add("-XX:MaxRAM=" + limit.getNumericalAmount().toBigInteger());
            }
            cmd.add("-jar");
            cmd.add(imageJar(c).toString());
            cmd.addAll(c.image.entryArgs());
        } else {
            for (int i = 0; i < given.size(); i++) {
                String part = rewrite(expand(given.get(i), env), mounts);
                if (i == 0 && (part.equals("java") || part.endsWith("/java"))) {
                    part = java;
                } else if (i > 0 && given.get(i - 1).equals("-jar")) {
                    part = imageJar(c).toString(); // the image's jar is the built one here
                }
                cmd.add(part);
            }
        }
        cmd.addAll(args);
        return cmd;
    }

    /**
     * The pod's own copy of the image's jar, taken when it first starts: like an image pulled once, it does not
     * change under a running process when the module is rebuilt.
     */
    private Path imageJar(ContainerRun c) {
        Path copy = dir.resolve("images").resolve(c.image.repository() + ".jar");
        try {
            if (!Files.isRegularFile(copy)) {
                Files.createDirectories(copy.getParent());
                Path tmp = copy.resolveSibling(copy.getFileName() + ".tmp");
                Files.copy(c.image.jar(), tmp, StandardCopyOption.REPLACE_EXISTING);
                Files.move(tmp, copy, StandardCopyOption.ATOMIC_MOVE);
            }
            return copy;
        } catch (IOException e) {
            throw new PodConfigException("cannot copy " + c.image.jar() + " into " + copy + ": " + e.getMessage());
        }
    }

    private static String expand(String s, Map<String, String> env) {
        Matcher m = VAR_REF.matcher(s);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String rep = m.group().equals("$$") ? "$" : env.getOrDefault(m.group(1), m.group());
            m.appendReplacement(out, Matcher.quoteReplacement(rep));
        }
        m.appendTail(out);
        return out.toString();
    }

    /**
     * Replaces each mountPath (as a whole path prefix) with its local directory, longest first, in one pass:
     * a local directory put in by one mount (often under /tmp) is never rewritten again by another (/tmp).
     */
    static String rewrite(String s, Map<String, String> mounts) {
        if (mounts.isEmpty()) return s;
        Map<String, String> byPath = new HashMap<>();
        List<String> paths = new ArrayList<>();
        for (Map.Entry<String, String> m : mounts.entrySet()) {
            String p = m.getKey();
            String mp = p.endsWith("/") && p.length() > 1 ? p.substring(0, p.length() - 1) : p;
            byPath.put(mp, m.getValue());
            paths.add(mp);
        }
        paths.sort(Comparator.comparingInt(String::length).reversed());
        StringBuilder alternatives = new StringBuilder();
        for (String p : paths) alternatives.append(alternatives.length() == 0 ? "" : "|").append(Pattern.quote(p));
        Matcher m = Pattern.compile("(?<![A-Za-z0-9._/-])(" + alternatives + ")(?=/|$|[^A-Za-z0-9._-])").matcher(s);
        StringBuilder out = new StringBuilder();
        while (m.find()) m.appendReplacement(out, Matcher.quoteReplacement(byPath.get(m.group(1))));
        m.appendTail(out);
        return out.toString();
    }

    private PodFields fields() {
        return new PodFields(pod, podIp, "127.0.0.1");
    }

    private void waiting(ContainerRun c, String reason, String message) {
        boolean changed = !reason.equals(c.waitingReason) || !message.equals(c.waitingMessage);
        c.waitingReason = reason;
        c.waitingMessage = message;
        if (changed && !reason.equals("ContainerCreating") && !reason.equals("PodInitializing")) {
            event(c, "Warning", reason.equals("CrashLoopBackOff") ? "BackOff" : "Failed", message);
        }
    }

    /** An Event on the pod, as the kubelet records one (what kubectl describe and kubectl get events show). */
    private void event(ContainerRun c, String type, String reason, String message) {
        String now = Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        var meta = pod.getMetadata();
        String kind = c.init ? "initContainers" : "containers";
        try {
            kubelet.client().v1().events().inNamespace(meta.getNamespace()).resource(new EventBuilder()
                    .withNewMetadata().withGenerateName(meta.getName() + ".").withNamespace(meta.getNamespace()).endMetadata()
                    .withNewInvolvedObject().withApiVersion("v1").withKind("Pod").withName(meta.getName()).withNamespace(meta.getNamespace())
                    .withUid(meta.getUid()).withFieldPath("spec." + kind + "{" + c.spec.getName() + "}").endInvolvedObject()
                    .withType(type).withReason(reason).withMessage(message)
                    .withNewSource().withComponent("kubelet").withHost(node.name()).endSource()
                    .withReportingComponent("kubelet").withReportingInstance(node.name())
                    .withFirstTimestamp(now).withLastTimestamp(now).withCount(1).build()).create();
        } catch (KubernetesClientException e) {
            LOG.log(Level.FINE, "event " + reason + " for " + key() + " not recorded", e);
        }
    }

    private void publishStatus() {
        List<ContainerStatus> statuses = new ArrayList<>();
        boolean allReady = true;
        boolean allFinished = true;
        boolean allSucceeded = true;
        boolean anyStarted = false;
        for (ContainerRun c : containers.values()) {
            anyStarted |= c.process != null || c.terminated != null || c.restarts > 0;
            allReady &= c.ready && c.process != null;
            allFinished &= c.finished;
            allSucceeded &= c.finished && c.terminated.getTerminated().getExitCode() == 0;
            statuses.add(containerStatus(c));
        }
        List<ContainerStatus> initStatuses = new ArrayList<>();
        boolean initFailed = false;
        for (ContainerRun c : inits.values()) {
            initStatuses.add(containerStatus(c));
            allReady &= !c.sidecar || (c.ready && c.process != null);
            initFailed |= !c.sidecar && c.finished && c.terminated.getTerminated().getExitCode() != 0;
        }
        boolean initialized = initialized(false);
        String phase = initFailed ? "Failed" : !initialized ? "Pending"
                : allFinished ? (allSucceeded ? "Succeeded" : "Failed") : anyStarted ? "Running" : "Pending";
        List<PodCondition> conditions = List.of(
                condition("PodReadyToStartContainers", volumes != null),
                condition("Initialized", initialized),
                condition("Ready", allReady),
                condition("ContainersReady", allReady),
                condition("PodScheduled", true));
        PodStatus status = new PodStatusBuilder().withPhase(phase).withConditions(conditions)
                .withHostIP("127.0.0.1").withHostIPs(new HostIPBuilder().withIp("127.0.0.1").build())
                .withPodIP(podIp).withPodIPs(new PodIPBuilder().withIp(podIp).build())
                .withStartTime(startTime).withContainerStatuses(statuses).withInitContainerStatuses(initStatuses)
                .withQosClass(pod.getStatus() == null ? null : pod.getStatus().getQosClass()).build();
        String json = Serialization.asJson(Map.of("status", status));
        if (json.equals(lastStatus)) {
            return;
        }
        try {
            kubelet.client().pods().inNamespace(pod.getMetadata().getNamespace()).withName(pod.getMetadata().getName())
                    .subresource("status").patch(PatchContext.of(PatchType.JSON_MERGE), json);
            lastStatus = json;
        } catch (KubernetesClientException e) {
            if (e.getCode() != 404) {
                throw e;
            }
        }
    }

    private ContainerStatus containerStatus(ContainerRun c) {
        ContainerState state;
        if (c.process != null) {
            state = new ContainerStateBuilder().withNewRunning()
                    .withStartedAt(c.startedAt.truncatedTo(ChronoUnit.SECONDS).toString()).endRunning().build();
        } else if (c.finished) {
            state = c.terminated;
        } else {
            state = new ContainerStateBuilder().withNewWaiting().withReason(c.waitingReason)
                    .withMessage(c.waitingMessage.isEmpty() ? null : c.waitingMessage).endWaiting().build();
        }
        return new ContainerStatusBuilder().withName(c.spec.getName()).withImage(c.spec.getImage())
                .withImageID(c.image == null ? "" : "file://" + c.image.jar())
                .withContainerID(c.process != null || c.terminated != null ? containerId(c) : null)
                .withReady(c.ready && c.process != null).withStarted(c.process != null && c.started)
                .withRestartCount(c.restarts).withState(state).withLastState(c.lastTerminated == null ? new ContainerState() : c.lastTerminated)
                .build();
    }

    private PodCondition condition(String type, boolean value) {
        String status = value ? "True" : "False";
        String[] since = conditionSince.get(type);
        if (since == null || !since[0].equals(status)) {
            since = new String[] {status, Instant.now().truncatedTo(ChronoUnit.SECONDS).toString()};
            conditionSince.put(type, since);
        }
        return new PodConditionBuilder().withType(type).withStatus(status).withLastTransitionTime(since[1])
                .withReason(value || !type.endsWith("Ready") ? null : "ContainersNotReady").build();
    }

    /** Graceful stop for a deleted pod: SIGTERM, the grace period, then SIGKILL. */
    synchronized void terminate(Duration grace) {
        stopAll(false, grace);
    }

    /** Immediate stop, as when the node is lost: no status is written. */
    synchronized void kill() {
        stopAll(true, Duration.ZERO);
    }

    private void stopAll(boolean kill, Duration grace) {
        stopped = true;
        if (loop != null) {
            loop.cancel(false);
        }
        List<ContainerRun> all = new ArrayList<>(containers.values());
        all.addAll(inits.values()); // sidecars stop after the main containers
        for (ContainerRun c : all) {
            if (c.process != null) {
                if (kill) {
                    c.process.kill();
                } else {
                    event(c, "Normal", "Killing", "Stopping container " + c.spec.getName());
                    c.process.stop(grace);
                }
                c.process = null;
            }
        }
        kubelet.deleteShm(pod);
    }

    private String containerId(ContainerRun c) {
        return "farmem-local://" + pod.getMetadata().getUid() + "/" + c.spec.getName() + "/" + c.restarts;
    }

    private static long initialDelay(Probe p) {
        return p == null || p.getInitialDelaySeconds() == null ? 0 : p.getInitialDelaySeconds();
    }

    private static long period(Probe p) {
        return p.getPeriodSeconds() == null || p.getPeriodSeconds() < 1 ? 10 : p.getPeriodSeconds();
    }

    private static int threshold(Integer v, int dflt) {
        return v == null || v < 1 ? dflt : v;
    }

    private String key() {
        return pod.getMetadata().getNamespace() + "/" + pod.getMetadata().getName();
    }
}
