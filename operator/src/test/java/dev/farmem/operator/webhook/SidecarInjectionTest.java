package dev.farmem.operator.webhook;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.client.utils.Serialization;
import io.fabric8.zjsonpatch.JsonPatch;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SidecarInjectionTest {

    private final SidecarInjection injection = new SidecarInjection(
            new SidecarInjection.Settings("registry.example/farmem-sidecar:1.0", "IfNotPresent", 9091, "100m", 64L << 20));

    private static Pod pod(boolean withVolumesAndEnv, Map<String, String> annotations) {
        PodBuilder b = new PodBuilder().withNewMetadata().withName("app").withNamespace("team").withAnnotations(annotations)
                .addToLabels(SidecarInjection.INJECT_LABEL, "true").endMetadata()
                .withNewSpec().addNewContainer().withName("app").withImage("example/app").endContainer()
                .addNewContainer().withName("helper").withImage("example/helper").endContainer().endSpec();
        Pod p = b.build();
        if (withVolumesAndEnv) {
            p.getSpec().getContainers().get(0).setEnv(new java.util.ArrayList<>(List.of(new io.fabric8.kubernetes.api.model.EnvVar("A", "1", null))));
            p.getSpec().getContainers().get(0).setVolumeMounts(new java.util.ArrayList<>(List.of(
                    new io.fabric8.kubernetes.api.model.VolumeMountBuilder().withName("data").withMountPath("/data").build())));
            p.getSpec().setVolumes(new java.util.ArrayList<>(List.of(new io.fabric8.kubernetes.api.model.VolumeBuilder().withName("data")
                    .withNewEmptyDir().endEmptyDir().build())));
        }
        return p;
    }

    private static FarMemoryClaim claim(String phase) {
        FarMemoryClaim c = new FarMemoryClaim();
        c.setMetadata(new io.fabric8.kubernetes.api.model.ObjectMetaBuilder().withName("cache").withNamespace("team").build());
        FarMemoryClaimStatus s = new FarMemoryClaimStatus();
        s.phase = phase;
        s.message = "Pending".equals(phase) ? "pool p has 0 free slabs, 4 needed" : null;
        s.bindingSecret = "cache-binding";
        c.setStatus(s);
        return c;
    }

    private static Pod apply(Pod pod, List<Map<String, Object>> patch) {
        JsonNode source = Serialization.jsonMapper().valueToTree(pod);
        JsonNode ops = Serialization.jsonMapper().valueToTree(patch);
        return Serialization.jsonMapper().convertValue(JsonPatch.apply(ops, source), Pod.class);
    }

    @Test
    void aPodNamingABoundClaimGetsTheSidecarTheVolumesAndTheMountsWhetherItHadVolumesOrNot() {
        for (boolean hadVolumes : new boolean[] {false, true}) {
            Pod pod = pod(hadVolumes, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache", SidecarInjection.CACHE_ANNOTATION, "128Mi"));
            SidecarInjection.Decision d = injection.decide(pod, "team", claim("Bound"), List.of());
            assertThat(d.allowed()).isTrue();

            Pod out = apply(pod, d.patch());
            assertThat(out.getMetadata().getLabels()).containsEntry(SidecarInjection.CLAIM_LABEL, "cache").containsEntry(SidecarInjection.INJECT_LABEL, "true");
            assertThat(out.getSpec().getShareProcessNamespace()).isTrue();
            assertThat(out.getSpec().getVolumes()).extracting(Volume::getName).endsWith(SidecarInjection.SHM_VOLUME, SidecarInjection.BINDING_VOLUME);
            Volume shm = out.getSpec().getVolumes().stream().filter(v -> v.getName().equals(SidecarInjection.SHM_VOLUME)).findFirst().orElseThrow();
            assertThat(shm.getEmptyDir().getMedium()).isEqualTo("Memory");
            assertThat(shm.getEmptyDir().getSizeLimit().getNumericalAmount().longValue()).isGreaterThan(128L << 20);
            Volume binding = out.getSpec().getVolumes().stream().filter(v -> v.getName().equals(SidecarInjection.BINDING_VOLUME)).findFirst().orElseThrow();
            assertThat(binding.getSecret().getSecretName()).isEqualTo("cache-binding");

            assertThat(out.getSpec().getContainers()).extracting(Container::getName).containsExactly("app", "helper", SidecarInjection.CONTAINER);
            for (Container app : out.getSpec().getContainers().subList(0, 2)) {
                assertThat(app.getVolumeMounts()).anyMatch(m -> m.getName().equals(SidecarInjection.SHM_VOLUME) && m.getMountPath().equals(SidecarInjection.SHM_PATH));
                assertThat(app.getEnv()).anyMatch(e -> e.getName().equals("FARMEM_SHM_DIR") && e.getValue().equals(SidecarInjection.SHM_PATH));
            }
            if (hadVolumes) {
                assertThat(out.getSpec().getContainers().get(0).getEnv()).extracting(io.fabric8.kubernetes.api.model.EnvVar::getName).startsWith("A");
                assertThat(out.getSpec().getVolumes()).extracting(Volume::getName).startsWith("data");
            }
            Container sidecar = out.getSpec().getContainers().get(2);
            assertThat(sidecar.getImage()).isEqualTo("registry.example/farmem-sidecar:1.0");
            assertThat(sidecar.getEnv()).anyMatch(e -> e.getName().equals("FARMEM_CACHE_BYTES") && e.getValue().equals(Long.toString(128L << 20)));
            assertThat(sidecar.getEnv()).anyMatch(e -> e.getName().equals("FARMEM_BINDING") && e.getValue().equals(SidecarInjection.BINDING_PATH));
            assertThat(sidecar.getEnv()).anyMatch(e -> e.getName().equals("FARMEM_METRICS_ADDRESS") && e.getValue().equals("$(FARMEM_POD_IP):9091"));
            assertThat(sidecar.getEnv()).anyMatch(e -> e.getName().equals("FARMEM_POD_IP")
                    && e.getValueFrom().getFieldRef().getFieldPath().equals("status.podIP"));
            assertThat(sidecar.getVolumeMounts()).anyMatch(m -> m.getName().equals(SidecarInjection.BINDING_VOLUME) && Boolean.TRUE.equals(m.getReadOnly()));
            long limit = sidecar.getResources().getLimits().get("memory").getNumericalAmount().longValue();
            assertThat(limit).as("the limit covers the tmpfs cache and the heap").isGreaterThan((128L << 20) + (64L << 20));
            assertThat(sidecar.getResources().getRequests().get("memory")).isEqualTo(sidecar.getResources().getLimits().get("memory"));
        }
    }

    @Test
    void theSidecarIsRestrictedAndRunsAsTheApplicationsUserWhenThePodStatesOne() {
        Map<String, String> asks = Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache");
        record Case(Long podUser, Long podGroup, Long appUser, Long appGroup, long user, long group) {}
        List<Case> cases = List.of(
                new Case(null, null, null, null, SidecarInjection.SIDECAR_UID, SidecarInjection.SIDECAR_UID), // the image's user
                new Case(2000L, 3000L, null, null, 2000, 3000),       // the pod's
                new Case(2000L, 3000L, 4000L, null, 4000, 3000),      // the app container's user wins over the pod's
                new Case(null, null, 4000L, null, 4000, 4000),        // no group stated: the user's own
                new Case(0L, 0L, null, null, SidecarInjection.SIDECAR_UID, SidecarInjection.SIDECAR_UID)); // root app: sidecar stays non-root
        for (Case k : cases) {
            Pod pod = pod(false, asks);
            if (k.podUser() != null) {
                pod.getSpec().setSecurityContext(new io.fabric8.kubernetes.api.model.PodSecurityContextBuilder()
                        .withRunAsUser(k.podUser()).withRunAsGroup(k.podGroup()).build());
            }
            if (k.appUser() != null) {
                pod.getSpec().getContainers().get(0).setSecurityContext(new io.fabric8.kubernetes.api.model.SecurityContextBuilder()
                        .withRunAsUser(k.appUser()).withRunAsGroup(k.appGroup()).build());
            }
            Pod out = apply(pod, injection.decide(pod, "team", claim("Bound"), List.of()).patch());
            io.fabric8.kubernetes.api.model.SecurityContext sc = out.getSpec().getContainers().get(2).getSecurityContext();
            assertThat(sc.getRunAsUser()).as("%s", k).isEqualTo(k.user());
            assertThat(sc.getRunAsGroup()).as("%s", k).isEqualTo(k.group());
            assertThat(sc.getRunAsNonRoot()).isTrue();
            assertThat(sc.getAllowPrivilegeEscalation()).isFalse();
            assertThat(sc.getCapabilities().getDrop()).containsExactly("ALL");
            assertThat(sc.getCapabilities().getAdd()).isNullOrEmpty();
            assertThat(sc.getSeccompProfile().getType()).isEqualTo("RuntimeDefault");
        }
    }

    @Test
    void aPodWithoutTheAnnotationIsLeftAloneUnlessItAskedForInjectionByLabel() {
        Pod plain = new PodBuilder().withNewMetadata().withName("plain").endMetadata().withNewSpec().addNewContainer().withName("a").endContainer().endSpec().build();
        assertThat(injection.decide(plain, "team", null, List.of())).isEqualTo(new SidecarInjection.Decision(true, List.of(), null));

        SidecarInjection.Decision d = injection.decide(pod(false, Map.of()), "team", null, List.of());
        assertThat(d.allowed()).isFalse();
        assertThat(d.message()).contains("no annotation farmem.io/claim").contains("namespace team");
    }

    @Test
    void aPodNamingAMissingClaimIsRefusedWithWhatToDo() {
        SidecarInjection.Decision d = injection.decide(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache")), "team", null, List.of());
        assertThat(d.allowed()).isFalse();
        assertThat(d.patch()).isEmpty();
        assertThat(d.message()).isEqualTo("FarMemoryClaim cache does not exist in namespace team (named by the pod's annotation farmem.io/claim): "
                + "create the claim first; a Deployment's pods are retried until it is Bound");
    }

    @Test
    void aPodNamingAnUnboundClaimIsRefusedWithTheClaimsOwnReason() {
        SidecarInjection.Decision d = injection.decide(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache")), "team", claim("Pending"), List.of());
        assertThat(d.allowed()).isFalse();
        assertThat(d.message()).contains("is Pending: pool p has 0 free slabs, 4 needed").contains("refused until it is Bound");
        FarMemoryClaim noStatus = claim("Bound");
        noStatus.setStatus(null);
        assertThat(injection.decide(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache")), "team", noStatus, List.of()).message())
                .contains("is Pending");
    }

    @Test
    void aClaimAttachedToALivePodIsNotAttachedTwice() {
        SidecarInjection.Decision d = injection.decide(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache")), "team", claim("Bound"), List.of("app-old"));
        assertThat(d.allowed()).isFalse();
        assertThat(d.message()).contains("attached to pod app-old").contains("delete that pod first");
    }

    @Test
    void aBadCacheSizeIsRefusedAndAnAlreadyInjectedPodIsLeftAlone() {
        SidecarInjection.Decision bad = injection.decide(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache",
                SidecarInjection.CACHE_ANNOTATION, "lots")), "team", claim("Bound"), List.of());
        assertThat(bad.allowed()).isFalse();
        assertThat(bad.message()).contains("annotation farmem.io/cache-size");

        Pod injected = apply(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache")),
                injection.decide(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache")), "team", claim("Bound"), List.of()).patch());
        assertThat(injection.decide(injected, "team", claim("Bound"), List.of()).patch()).isEmpty();
    }

    @Test
    void thePollAnnotationSetsTheSidecarsPollTimeAndABadOneIsRefused() {
        Pod pod = pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache", SidecarInjection.POLL_ANNOTATION, "0"));
        Pod out = apply(pod, injection.decide(pod, "team", claim("Bound"), List.of()).patch());
        assertThat(out.getSpec().getContainers().get(2).getEnv()).anyMatch(e -> e.getName().equals("FARMEM_POLL_MICROS") && e.getValue().equals("0"));

        Pod plain = pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache"));
        Pod defaulted = apply(plain, injection.decide(plain, "team", claim("Bound"), List.of()).patch());
        assertThat(defaulted.getSpec().getContainers().get(2).getEnv()).noneMatch(e -> e.getName().equals("FARMEM_POLL_MICROS"));

        for (String bad : new String[] {"fast", "-1", "20000"}) {
            SidecarInjection.Decision d = injection.decide(pod(false, Map.of(SidecarInjection.CLAIM_ANNOTATION, "cache",
                    SidecarInjection.POLL_ANNOTATION, bad)), "team", claim("Bound"), List.of());
            assertThat(d.allowed()).as(bad).isFalse();
            assertThat(d.message()).contains("annotation farmem.io/sidecar-poll-micros '" + bad + "'").contains("0..10000");
        }
    }

    @Test
    void labelKeysAreEscapedAsJsonPointers() {
        assertThat(SidecarInjection.escape("farmem.io/claim")).isEqualTo("farmem.io~1claim");
        assertThat(SidecarInjection.escape("a~b")).isEqualTo("a~0b");
    }
}
