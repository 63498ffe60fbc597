package dev.farmem.operator.status;

import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Objects;

/**
 * The one place statuses are written: a JSON merge patch of the status subresource, sent only
 * when the status differs from the one last read.
 */
public final class StatusWriter {

    private StatusWriter() {}

    /**
     * Patches the status of {@code resource} to {@code status} if it changed. With
     * {@code locked}, the patch carries the resourceVersion, so it fails with a conflict if the
     * object changed since it was read (used when the status records a decision, like a binding).
     * Returns true when a patch was sent.
     */
    public static <S, R extends CustomResource<?, S>> boolean patchIfChanged(KubernetesClient client, R resource, S status, boolean locked) {
        KubernetesSerialization json = client.getKubernetesSerialization();
        S current = resource.getStatus();
        if (current != null && Objects.equals(json.asJson(current), json.asJson(status))) return false;
        R copy = json.clone(resource);
        copy.setStatus(status);
        copy.getMetadata().setManagedFields(null);
        if (!locked) copy.getMetadata().setResourceVersion(null);
        client.resource(copy).patchStatus();
        return true;
    }
}
