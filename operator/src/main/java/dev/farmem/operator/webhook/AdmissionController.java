package dev.farmem.operator.webhook;

import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.FarMemoryClaimStatus;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.StatusBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionRequest;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionResponseBuilder;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReview;
import io.fabric8.kubernetes.api.model.admission.v1.AdmissionReviewBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers one AdmissionReview for a pod: looks up the claim it names and the pods already
 * attached to that claim, and lets {@link SidecarInjection} decide.
 */
public final class AdmissionController {

    private static final Logger LOG = LoggerFactory.getLogger(AdmissionController.class);

    private final KubernetesClient client;
    private final SidecarInjection injection;

    public AdmissionController(KubernetesClient client, SidecarInjection injection) {
        this.client = client;
        this.injection = injection;
    }

    public AdmissionReview review(AdmissionReview in) {
        AdmissionRequest req = in.getRequest();
        if (req == null || req.getUid() == null) {
            throw new IllegalArgumentException("the AdmissionReview has no request (or no request uid): send admission.k8s.io/v1 AdmissionReview");
        }
        AdmissionResponseBuilder out = new AdmissionResponseBuilder().withUid(req.getUid()).withAllowed(true);
        if (req.getKind() == null || !"Pod".equals(req.getKind().getKind()) || req.getObject() == null) {
            return wrap(in, out);
        }
        Pod pod = req.getObject() instanceof Pod p ? p : Serialization.jsonMapper().convertValue(req.getObject(), Pod.class);
        String namespace = req.getNamespace() != null ? req.getNamespace() : pod.getMetadata().getNamespace();
        String claimName = SidecarInjection.claimOf(pod);
        FarMemoryClaim claim = null;
        List<String> attached = List.of();
        if (claimName != null) {
            claim = client.resources(FarMemoryClaim.class).inNamespace(namespace).withName(claimName).get();
        }
        if (claim != null && claim.getStatus() != null && FarMemoryClaimStatus.BOUND.equals(claim.getStatus().phase)) {
            attached = client.pods().inNamespace(namespace).withLabel(SidecarInjection.CLAIM_LABEL, claimName).list().getItems().stream()
                    .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
                    .filter(p -> p.getStatus() == null || !List.of("Succeeded", "Failed").contains(p.getStatus().getPhase()))
                    .map(p -> p.getMetadata().getName())
                    .toList();
        }
        SidecarInjection.Decision d = injection.decide(pod, namespace, claim, attached);
        String podName = pod.getMetadata().getName() != null ? pod.getMetadata().getName() : pod.getMetadata().getGenerateName() + "*";
        if (!d.allowed()) {
            LOG.info("refused pod {}/{}: {}", namespace, podName, d.message());
            out.withAllowed(false).withStatus(new StatusBuilder().withCode(403).withReason("Forbidden").withMessage(d.message()).build());
        } else if (!d.patch().isEmpty()) {
            LOG.info("injecting the farmem sidecar into pod {}/{} for claim {}", namespace, podName, claimName);
            out.withPatchType("JSONPatch").withPatch(Base64.getEncoder().encodeToString(
                    Serialization.asJson(d.patch()).getBytes(StandardCharsets.UTF_8)));
        }
        return wrap(in, out);
    }

    private static AdmissionReview wrap(AdmissionReview in, AdmissionResponseBuilder out) {
        return new AdmissionReviewBuilder().withApiVersion(in.getApiVersion() != null ? in.getApiVersion() : "admission.k8s.io/v1")
                .withKind("AdmissionReview").withResponse(out.build()).build();
    }
}
