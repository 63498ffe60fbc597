package dev.farmem.e2e.harness.kubelet;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.DownwardAPIVolumeFile;
import io.fabric8.kubernetes.api.model.KeyToPath;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.ServiceAccountTokenProjection;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.VolumeProjection;
import io.fabric8.kubernetes.api.model.authentication.TokenRequest;
import io.fabric8.kubernetes.api.model.authentication.TokenRequestBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a pod's volumes into its directory, one sub-directory per volume: Secret, ConfigMap, emptyDir (on /dev/shm
 * for medium Memory), downwardAPI, and projected volumes with service-account tokens from the TokenRequest API.
 * Called again periodically, it brings changed Secret and ConfigMap keys into the files (like the kubelet's sync).
 */
final class PodVolumes {
    private final KubernetesClient client;

    PodVolumes(KubernetesClient client) {
        this.client = client;
    }

    /** Volume name to local directory; throws {@link PodConfigException} when a source is missing or unsupported. */
    Map<String, Path> materialize(Pod pod, PodFields fields, NodeSpec node, Path podDir) {
        Map<String, Path> dirs = new LinkedHashMap<>();
        List<Volume> volumes = pod.getSpec().getVolumes() == null ? List.of() : pod.getSpec().getVolumes();
        String ns = pod.getMetadata().getNamespace();
        for (Volume v : volumes) {
            Path dir = podDir.resolve("volumes").resolve(v.getName());
            try {
                if (v.getEmptyDir() != null) {
                    dir = emptyDir(pod, v, dir);
                } else if (v.getSecret() != null) {
                    Secret s = client.secrets().inNamespace(ns).withName(v.getSecret().getSecretName()).get();
                    if (s == null && !Boolean.TRUE.equals(v.getSecret().getOptional())) {
                        throw new PodConfigException("secret \"" + v.getSecret().getSecretName() + "\" not found (volume " + v.getName() + ")");
                    }
                    writeKeys(dir, s == null ? Map.of() : decode(s), v.getSecret().getItems(), "secret " + v.getSecret().getSecretName());
                } else if (v.getConfigMap() != null) {
                    ConfigMap cm = client.configMaps().inNamespace(ns).withName(v.getConfigMap().getName()).get();
                    if (cm == null && !Boolean.TRUE.equals(v.getConfigMap().getOptional())) {
                        throw new PodConfigException("configmap \"" + v.getConfigMap().getName() + "\" not found (volume " + v.getName() + ")");
                    }
                    writeKeys(dir, cm == null ? Map.of() : decode(cm), v.getConfigMap().getItems(), "configmap " + v.getConfigMap().getName());
                } else if (v.getDownwardAPI() != null) {
                    writeDownward(dir, v.getDownwardAPI().getItems(), fields, node, pod);
                } else if (v.getProjected() != null) {
                    Files.createDirectories(dir);
                    for (VolumeProjection src : v.getProjected().getSources()) {
                        project(pod, src, dir, fields, node);
                    }
                } else {
                    throw new PodConfigException("volume " + v.getName() + " is of a kind the local kubelet does not provide"
                            + " (it provides secret, configMap, emptyDir, downwardAPI and projected)");
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write volume " + v.getName() + " into " + dir, e);
            }
            dirs.put(v.getName(), dir);
        }
        return dirs;
    }

    private static Path emptyDir(Pod pod, Volume v, Path dir) throws IOException {
        Path shm = Path.of("/dev/shm");
        if ("Memory".equals(v.getEmptyDir().getMedium()) && Files.isDirectory(shm) && Files.isWritable(shm)) {
            // tmpfs like the kubelet's, so memory-mapped files shared by containers never touch a disk
            Path mem = shm.resolve("farmem-pods").resolve(pod.getMetadata().getUid()).resolve(v.getName());
            Files.createDirectories(mem);
            Files.deleteIfExists(dir);
            Files.createDirectories(dir.getParent());
            Files.createSymbolicLink(dir, mem); // for whoever looks into the pod's directory
            return mem; // what the containers see: a short path, as a real pod's mount path is (a UNIX socket path holds 107 bytes)
        }
        Files.createDirectories(dir);
        return dir;
    }

    private void project(Pod pod, VolumeProjection src, Path dir, PodFields fields, NodeSpec node) throws IOException {
        String ns = pod.getMetadata().getNamespace();
        if (src.getServiceAccountToken() != null) {
            ServiceAccountTokenProjection p = src.getServiceAccountToken();
            Path file = dir.resolve(p.getPath());
            long ttl = p.getExpirationSeconds() == null ? 3600L : p.getExpirationSeconds();
            // renewed at 80% of its lifetime, as the kubelet does
            if (!Files.isRegularFile(file) || Files.getLastModifiedTime(file).toInstant().plusSeconds(ttl * 8 / 10).isBefore(Instant.now())) {
                write(file, token(pod, p).getBytes(StandardCharsets.UTF_8));
            }
        } else if (src.getConfigMap() != null) {
            ConfigMap cm = client.configMaps().inNamespace(ns).withName(src.getConfigMap().getName()).get();
            if (cm == null && !Boolean.TRUE.equals(src.getConfigMap().getOptional())) {
                throw new PodConfigException("configmap \"" + src.getConfigMap().getName() + "\" not found (projected volume)");
            }
            writeKeys(dir, cm == null ? Map.of() : decode(cm), src.getConfigMap().getItems(), "configmap " + src.getConfigMap().getName());
        } else if (src.getSecret() != null) {
            Secret s = client.secrets().inNamespace(ns).withName(src.getSecret().getName()).get();
            if (s == null && !Boolean.TRUE.equals(src.getSecret().getOptional())) {
                throw new PodConfigException("secret \"" + src.getSecret().getName() + "\" not found (projected volume)");
            }
            writeKeys(dir, s == null ? Map.of() : decode(s), src.getSecret().getItems(), "secret " + src.getSecret().getName());
        } else if (src.getDownwardAPI() != null) {
            writeDownward(dir, src.getDownwardAPI().getItems(), fields, node, pod);
        } else {
            throw new PodConfigException("projected volume source " + src + " is not supported by the local kubelet");
        }
    }

    /** A token bound to this pod, as a kubelet gets it for a projected serviceAccountToken source. */
    private String token(Pod pod, ServiceAccountTokenProjection p) {
        String sa = pod.getSpec().getServiceAccountName() == null ? "default" : pod.getSpec().getServiceAccountName();
        TokenRequest req = new TokenRequestBuilder().withNewSpec()
                .withAudiences(p.getAudience() == null || p.getAudience().isEmpty() ? List.of() : List.of(p.getAudience()))
                .withExpirationSeconds(p.getExpirationSeconds() == null ? 3600L : p.getExpirationSeconds())
                .withNewBoundObjectRef().withApiVersion("v1").withKind("Pod")
                .withName(pod.getMetadata().getName()).withUid(pod.getMetadata().getUid()).endBoundObjectRef()
                .endSpec().build();
        TokenRequest resp = client.serviceAccounts().inNamespace(pod.getMetadata().getNamespace()).withName(sa).tokenRequest(req);
        return resp.getStatus().getToken();
    }

    private static void writeDownward(Path dir, List<DownwardAPIVolumeFile> items, PodFields fields, NodeSpec node, Pod pod) throws IOException {
        Files.createDirectories(dir);
        for (DownwardAPIVolumeFile f : items == null ? List.<DownwardAPIVolumeFile>of() : items) {
            String value = f.getFieldRef() != null ? fields.field(f.getFieldRef().getFieldPath())
                    : fields.resource(f.getResourceFieldRef(), pod.getSpec().getContainers().get(0).getName(), node);
            write(dir.resolve(f.getPath()), value.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static void writeKeys(Path dir, Map<String, byte[]> data, List<KeyToPath> items, String source) throws IOException {
        Files.createDirectories(dir);
        if (items == null || items.isEmpty()) {
            for (var e : data.entrySet()) {
                write(dir.resolve(e.getKey()), e.getValue());
            }
            return;
        }
        for (KeyToPath item : items) {
            byte[] value = data.get(item.getKey());
            if (value == null) {
                throw new PodConfigException(source + " has no key \"" + item.getKey() + "\"");
            }
            write(dir.resolve(item.getPath()), value);
        }
    }

    /** Replaces the file atomically, and only when its content changed, so a reader never sees half a file. */
    private static void write(Path file, byte[] bytes) throws IOException {
        Path target = file.normalize();
        Files.createDirectories(target.getParent());
        if (Files.isRegularFile(target) && Arrays.equals(Files.readAllBytes(target), bytes)) {
            return;
        }
        Path tmp = target.resolveSibling("." + target.getFileName() + ".tmp");
        Files.write(tmp, bytes);
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static Map<String, byte[]> decode(Secret s) {
        Map<String, byte[]> m = new LinkedHashMap<>();
        if (s.getData() != null) {
            s.getData().forEach((k, v) -> m.put(k, Base64.getDecoder().decode(v)));
        }
        if (s.getStringData() != null) {
            s.getStringData().forEach((k, v) -> m.put(k, v.getBytes(StandardCharsets.UTF_8)));
        }
        return m;
    }

    static Map<String, byte[]> decode(ConfigMap cm) {
        Map<String, byte[]> m = new LinkedHashMap<>();
        if (cm.getData() != null) {
            cm.getData().forEach((k, v) -> m.put(k, v.getBytes(StandardCharsets.UTF_8)));
        }
        if (cm.getBinaryData() != null) {
            cm.getBinaryData().forEach((k, v) -> m.put(k, Base64.getDecoder().decode(v)));
        }
        return m;
    }
}
