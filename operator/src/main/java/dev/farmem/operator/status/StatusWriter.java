package dev.farmem.operator.status;

import io.fabric8.kubernetes.client.CustomResource;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.utils.KubernetesSerialization;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The one place statuses are written: a JSON merge patch of the status subresource, sent only
 * when the status differs from the one last read.
 */
public final class StatusWriter {

    private StatusWriter() {}

    /**
     * The status a reconcile starts from: a deep copy of {@code current} through the object's own
     * serialization, so every field is kept (a field added to the status class later included),
     * or {@code empty} when there is none yet.
     */
    public static <S> S workingCopy(KubernetesClient client, S current, Supplier<S> empty) {
        return current == null ? empty.get() : client.getKubernetesSerialization().clone(current);
    }

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
