package dev.farmem.operator.status;

import io.fabric8.kubernetes.api.model.Condition;
import io.fabric8.kubernetes.api.model.ConditionBuilder;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Objects;

/** Sets conditions the Kubernetes way: lastTransitionTime moves only when the status flips. */
public final class Conditions {
    public static final String READY = "Ready";
    public static final String PROGRESSING = "Progressing";
    public static final String DEGRADED = "Degraded";
    public static final String BOUND = "Bound";

    private Conditions() {}

    /** Replaces or adds condition {@code type} in {@code conditions}, keeping its transition time when the status is unchanged. */
    public static void set(List<Condition> conditions, String type, boolean status, String reason, String message, Long generation) {
        String value = status ? "True" : "False";
        Condition old = find(conditions, type);
        String since = old != null && Objects.equals(old.getStatus(), value) && old.getLastTransitionTime() != null
                ? old.getLastTransitionTime()
                : Instant.now().truncatedTo(ChronoUnit.SECONDS).toString();
        Condition c = new ConditionBuilder().withType(type).withStatus(value).withReason(reason).withMessage(message == null ? "" : message)
                .withObservedGeneration(generation).withLastTransitionTime(since).build();
        conditions.removeIf(x -> type.equals(x.getType()));
        conditions.add(c);
        conditions.sort((a, b) -> a.getType().compareTo(b.getType()));
    }

    public static Condition find(List<Condition> conditions, String type) {
        if (conditions == null) return null;
        return conditions.stream().filter(c -> type.equals(c.getType())).findFirst().orElse(null);
    }

    public static boolean isTrue(List<Condition> conditions, String type) {
        Condition c = find(conditions, type);
        return c != null && "True".equals(c.getStatus());
    }
}
