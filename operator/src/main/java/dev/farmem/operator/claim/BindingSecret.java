package dev.farmem.operator.claim;

import dev.farmem.crds.FarMemoryClaim;
import dev.farmem.crds.MemoryNode;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenLifetime;
import dev.farmem.crds.FarMemoryPool;
import io.fabric8.kubernetes.api.model.OwnerReferenceBuilder;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The binding Secret of a claim: key {@value Binding#SECRET_KEY} holds the {@link Binding} JSON
 * that a client opens as it is, with one token per memory node granting exactly the claim's
 * slabs there.
 */
public final class BindingSecret {
    public static final String CLAIM_LABEL = "farmem.io/claim";
    /** When the tokens in the Secret expire (ISO instant); they are renewed at half their life ({@link TokenLifetime}). */
    public static final String EXPIRES_ANNOTATION = "farmem.io/tokens-expire-at";
    public static final int BLOCK_SIZE = 4096;

    private BindingSecret() {}

    public static String name(FarMemoryClaim claim) {
        return claim.getMetadata().getName() + "-binding";
    }

    /** The binding of a bound claim; {@code nodes} are the pool's memory nodes by name. */
    public static Binding binding(FarMemoryClaim claim, String transport, long slabSize, long epoch, List<Binding.Extent> extents,
                                  Map<String, MemoryNode> nodes, TokenIssuer issuer, long expiresAtMillis) {
        Map<String, List<SlabRange>> grants = new TreeMap<>();
        for (Binding.Extent e : extents) {
            for (Binding.Replica r : e.replicas()) grants.computeIfAbsent(r.node(), n -> new ArrayList<>()).add(new SlabRange(r.firstSlab(), e.count()));
        }
        Map<String, Binding.Node> bindingNodes = new HashMap<>();
        for (Map.Entry<String, List<SlabRange>> g : grants.entrySet()) {
            MemoryNode m = nodes.get(g.getKey());
            if (m == null || m.getStatus() == null || m.getStatus().endpoint == null) {
                throw new IllegalStateException("memory node " + g.getKey() + " has no endpoint yet");
            }
            String token = issuer.issue(new CapabilityToken(g.getKey(), incarnationOf(g.getKey(), m), claim.getMetadata().getUid(), epoch, merged(g.getValue()),
                    Rights.READ_WRITE, expiresAtMillis));
            bindingNodes.put(g.getKey(), new Binding.Node(m.getStatus().endpoint, token));
        }
        return new Binding(Binding.CURRENT_VERSION, claim.getSpec().pool, claim.getMetadata().getName(), claim.getMetadata().getUid(), epoch,
                transport, claim.getSpec().sizeBytes, slabSize, BLOCK_SIZE, bindingNodes, extents).validate();
    }

    /**
     * The agent process a token for this node must name. The agent writes it once, with its endpoint, and a restarted agent
     * refuses to serve the same MemoryNode, so a claim's tokens never move to an empty region.
     */
    static long incarnationOf(String name, MemoryNode m) {
        String text = m.getStatus().incarnation;
        if (text == null) throw new IllegalStateException("memory node " + name + " has not reported its incarnation yet");
        try {
            return Incarnation.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalStateException("memory node " + name + " reports a bad " + e.getMessage());
        }
    }

    public static Secret secret(FarMemoryClaim claim, Binding binding, long expiresAtMillis) {
        return new SecretBuilder().withNewMetadata().withName(name(claim)).withNamespace(claim.getMetadata().getNamespace())
                .addToLabels(CLAIM_LABEL, claim.getMetadata().getName())
                .addToAnnotations(EXPIRES_ANNOTATION, Instant.ofEpochMilli(expiresAtMillis).toString())
                .withOwnerReferences(new OwnerReferenceBuilder().withApiVersion(claim.getApiVersion()).withKind(claim.getKind())
                        .withName(claim.getMetadata().getName()).withUid(claim.getMetadata().getUid()).withController(true)
                        .withBlockOwnerDeletion(true).build())
                .endMetadata()
                .withType("Opaque")
                .addToData(Binding.SECRET_KEY, Base64.getEncoder().encodeToString(binding.toJson().getBytes(StandardCharsets.UTF_8)))
                .build();
    }

    /** The binding a Secret holds, or null when it holds none that parses. */
    public static Binding read(Secret secret) {
        if (secret == null || secret.getData() == null || !secret.getData().containsKey(Binding.SECRET_KEY)) return null;
        try {
            return Binding.fromJson(new String(Base64.getDecoder().decode(secret.getData().get(Binding.SECRET_KEY)), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /** True when two bindings say the same thing apart from their tokens. */
    public static boolean sameExceptTokens(Binding a, Binding b) {
        if (a == null || b == null) return false;
        if (!a.nodes().keySet().equals(b.nodes().keySet())) return false;
        for (String n : a.nodes().keySet()) {
            if (!a.nodes().get(n).endpoint().equals(b.nodes().get(n).endpoint())) return false;
        }
        return a.version() == b.version() && a.epoch() == b.epoch() && a.sizeBytes() == b.sizeBytes() && a.slabSize() == b.slabSize()
                && a.blockSize() == b.blockSize() && a.extents().equals(b.extents()) && a.claimUid().equals(b.claimUid())
                && Objects.equals(a.transport(), b.transport());
    }

    /** Whether {@code secret} is the binding Secret of this claim object (its owner), not one left by another. */
    public static boolean ownedBy(Secret secret, FarMemoryClaim claim) {
        return secret.getMetadata().getOwnerReferences() != null
                && secret.getMetadata().getOwnerReferences().stream().anyMatch(o -> claim.getMetadata().getUid().equals(o.getUid()));
    }

    /** The lifetime of the tokens of a pool's claims ({@code spec.tokenTtlSeconds}, the CRD's default when unset). */
    public static TokenLifetime lifetime(FarMemoryPool pool) {
        Integer seconds = pool.getSpec().tokenTtlSeconds;
        return seconds == null ? new TokenLifetime(TokenLifetime.DEFAULT_TTL) : TokenLifetime.ofSeconds(seconds);
    }

    /** When the tokens in a binding Secret expire, in Unix milliseconds; 0 when the Secret does not say (renew them). */
    public static long tokensExpireAt(Secret secret) {
        String at = secret == null || secret.getMetadata().getAnnotations() == null ? null : secret.getMetadata().getAnnotations().get(EXPIRES_ANNOTATION);
        if (at == null) return 0;
        try {
            return Instant.parse(at).toEpochMilli();
        } catch (java.time.format.DateTimeParseException e) {
            return 0;
        }
    }

    /**
     * Whether the tokens in a binding Secret must be renewed now: past half their life, living longer than the pool's
     * lifetime allows (issued before it was shortened), or of unknown expiry.
     */
    public static boolean renewalDue(Secret secret, TokenLifetime lifetime, long nowMillis) {
        return lifetime.renewalDue(tokensExpireAt(secret), nowMillis);
    }

    /** Adjacent ranges joined, so that a token stays short however the extents fell. */
    static List<SlabRange> merged(List<SlabRange> ranges) {
        List<SlabRange> sorted = new ArrayList<>(ranges);
        sorted.sort(Comparator.comparingInt(SlabRange::first));
        List<SlabRange> out = new ArrayList<>();
        for (SlabRange r : sorted) {
            if (!out.isEmpty() && out.get(out.size() - 1).end() == r.first()) {
                SlabRange last = out.remove(out.size() - 1);
                out.add(new SlabRange(last.first(), last.count() + r.count()));
            } else {
                out.add(r);
            }
        }
        return out;
    }
}
