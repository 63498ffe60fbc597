package dev.farmem.operator.claim;

import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenLifetime;
import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.MemoryNode;
import io.fabric8.kubernetes.api.model.Secret;
import io.javaoperatorsdk.operator.api.config.informer.Informer;
import io.javaoperatorsdk.operator.api.reconciler.Context;
import io.javaoperatorsdk.operator.api.reconciler.dependent.Deleter;
import io.javaoperatorsdk.operator.processing.dependent.Creator;
import io.javaoperatorsdk.operator.processing.dependent.Matcher;
import io.javaoperatorsdk.operator.processing.dependent.Updater;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.BooleanWithUndefined;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependent;
import io.javaoperatorsdk.operator.processing.dependent.kubernetes.KubernetesDependentResource;
import io.javaoperatorsdk.operator.processing.event.ResourceID;
import io.javaoperatorsdk.operator.processing.event.source.SecondaryToPrimaryMapper;
import io.javaoperatorsdk.operator.processing.event.source.informer.Mappers;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The binding Secret of a bound claim, {@code <claim>-binding} in its namespace, as a dependent
 * resource: {@link #desired} is the binding of the claim's recorded extents and epoch with fresh
 * tokens, and {@link #match} decides when the Secret is rewritten: when anything but the tokens
 * differs (an endpoint moved, a new epoch), or when its tokens are past half their life (the
 * pool's {@code tokenTtlSeconds}). It is
 * deleted with the claim (the claim's cleanup runs the workflow's).
 */
@KubernetesDependent(useSSA = BooleanWithUndefined.FALSE, informer = @Informer(labelSelector = BindingSecret.CLAIM_LABEL))
public class BindingSecretDependent extends KubernetesDependentResource<Secret, FarMemoryClaim>
        implements Creator<Secret, FarMemoryClaim>, Updater<Secret, FarMemoryClaim>, Deleter<FarMemoryClaim>, SecondaryToPrimaryMapper<Secret> {
    public static final String NAME = "binding-secret";
    private static final SecondaryToPrimaryMapper<Secret> OWNER = Mappers.fromOwnerReferences(FarMemoryClaim.class, false);

    /**
     * What the binding is made of, decided by the claim reconcile before the workflow runs: the
     * recorded epoch and extents (written to the claim status first), the pool's memory nodes by
     * name, its token issuer, and when the new tokens expire.
     */
    public record Inputs(String transport, long slabSize, long epoch, List<Binding.Extent> extents, Map<String, MemoryNode> nodes,
                         TokenIssuer issuer, TokenLifetime lifetime, long nowMillis) {
        long expiresAtMillis() {
            return lifetime.expiresAt(nowMillis);
        }
    }

    public BindingSecretDependent() {
        super(Secret.class);
    }

    /** The binding with fresh tokens; throws IllegalStateException while a memory node has no endpoint or incarnation yet. */
    @Override
    protected Secret desired(FarMemoryClaim claim, Context<FarMemoryClaim> context) {
        Inputs in = context.managedWorkflowAndDependentResourceContext().getMandatory(Inputs.class, Inputs.class);
        Binding binding = BindingSecret.binding(claim, in.transport(), in.slabSize(), in.epoch(), in.extents(), in.nodes(), in.issuer(),
                in.expiresAtMillis());
        return BindingSecret.secret(claim, binding, in.expiresAtMillis());
    }

    /**
     * Up to date when it binds the same thing and its tokens need no renewal ({@link TokenLifetime#renewalDue}): then it is
     * left as it is. Renewing at half-life leaves a running client the other half to read the new tokens from the mounted Secret.
     */
    @Override
    public Matcher.Result<Secret> match(Secret actual, FarMemoryClaim claim, Context<FarMemoryClaim> context) {
        Inputs in = context.managedWorkflowAndDependentResourceContext().getMandatory(Inputs.class, Inputs.class);
        Secret desired = desired(claim, context);
        boolean current = BindingSecret.sameExceptTokens(BindingSecret.read(actual), BindingSecret.read(desired))
                && !BindingSecret.renewalDue(actual, in.lifetime(), in.nowMillis());
        return Matcher.Result.computed(current, desired);
    }

    /** By name: desired() issues tokens, which only a write needs. */
    @Override
    protected ResourceID targetSecondaryResourceID(FarMemoryClaim claim, Context<FarMemoryClaim> context) {
        return new ResourceID(BindingSecret.name(claim), claim.getMetadata().getNamespace());
    }

    /** A binding Secret belongs to the claim that owns it. */
    @Override
    public Set<ResourceID> toPrimaryResourceIDs(Secret secret) {
        return OWNER.toPrimaryResourceIDs(secret);
    }

    /** The Secret names its claim as owner already ({@link BindingSecret#secret}): nothing to add. */
    @Override
    protected void addReferenceHandlingMetadata(Secret desired, FarMemoryClaim claim) {}
}
