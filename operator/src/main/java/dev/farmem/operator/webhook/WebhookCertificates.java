package dev.farmem.operator.webhook;

import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.SecretBuilder;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhook;
import io.fabric8.kubernetes.api.model.admissionregistration.v1.MutatingWebhookConfiguration;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * TLS of the webhook managed by the operator: a self-signed CA and a serving certificate kept
 * in a Secret of the operator's namespace (keys ca.crt, ca.key, tls.crt, tls.key), the CA
 * written into the caBundle of the MutatingWebhookConfiguration. Both are renewed when less
 * than {@code renewBefore} of their life is left; while a new CA takes over, the caBundle holds
 * the old and the new one so that no admission call fails in between. The Secret is the only
 * state: another operator replica, or a restart, reads the same material.
 */
public final class WebhookCertificates {

    private static final Logger LOG = LoggerFactory.getLogger(WebhookCertificates.class);

    private final KubernetesClient client;
    private final String namespace;
    private final String secretName;
    private final String configurationName;
    private final List<String> dnsNames;
    private final Duration caLife;
    private final Duration certLife;
    private final Duration renewBefore;

    public WebhookCertificates(KubernetesClient client, String namespace, String service, String secretName, String configurationName,
                               Duration caLife, Duration certLife, Duration renewBefore) {
        if (renewBefore.compareTo(certLife) >= 0) {
            throw new IllegalArgumentException("the webhook certificate is renewed " + renewBefore + " before expiry, which is not shorter than its life "
                    + certLife + ": choose a shorter renewal margin");
        }
        this.client = client;
        this.namespace = namespace;
        this.secretName = secretName;
        this.configurationName = configurationName;
        this.dnsNames = List.of(service + "." + namespace + ".svc", service + "." + namespace + ".svc.cluster.local", service + "." + namespace, service);
        this.caLife = caLife;
        this.certLife = certLife;
        this.renewBefore = renewBefore;
    }

    public List<String> dnsNames() {
        return dnsNames;
    }

    /**
     * Makes sure the Secret holds material that is valid for at least {@code renewBefore} and
     * covers the Service's names, renewing what is needed, and that the caBundle trusts it.
     */
    public WebhookTls ensure() {
        Secret secret = client.secrets().inNamespace(namespace).withName(secretName).get();
        WebhookTls current = read(secret);
        Instant horizon = Instant.now().plus(renewBefore);
        WebhookTls next = current;
        String previousCa = null;
        if (current == null || current.caNotAfter().isBefore(horizon.plus(certLife))) {
            next = WebhookTls.issue(dnsNames, caLife, certLife);
            previousCa = current != null && current.caNotAfter().isAfter(Instant.now()) ? current.caCert() : null;
            LOG.info("webhook CA {} (Secret {}/{}), valid until {}", current == null ? "created" : "rotated", namespace, secretName, next.caNotAfter());
        } else if (current.certNotAfter().isBefore(horizon) || !current.covers(dnsNames)) {
            next = WebhookTls.withServingCert(current.caCert(), current.caKey(), dnsNames, certLife);
            LOG.info("webhook serving certificate renewed, valid until {}", next.certNotAfter());
        }
        if (next != current) next = store(secret, next);
        patchCaBundle(previousCa == null ? next.caCert() : next.caCert() + previousCa);
        return next;
    }

    private static WebhookTls read(Secret s) {
        if (s == null || s.getData() == null) return null;
        Map<String, String> d = s.getData();
        if (!d.keySet().containsAll(List.of("ca.crt", "ca.key", "tls.crt", "tls.key"))) return null;
        try {
            WebhookTls t = new WebhookTls(decode(d.get("ca.crt")), decode(d.get("ca.key")), decode(d.get("tls.crt")), decode(d.get("tls.key")));
            t.certNotAfter(); // parses
            return t;
        } catch (RuntimeException e) {
            LOG.warn("webhook TLS Secret holds material that cannot be read ({}): issuing new", e.getMessage());
            return null;
        }
    }

    /** Writes the material; if another replica wrote first, its material wins (read back). */
    private WebhookTls store(Secret existing, WebhookTls tls) {
        Secret desired = new SecretBuilder()
                .withNewMetadata().withName(secretName).withNamespace(namespace)
                .addToLabels("app.kubernetes.io/component", "webhook").addToLabels("app.kubernetes.io/managed-by", "farmem-operator")
                .endMetadata()
                .withType("Opaque")
                .addToData("ca.crt", encode(tls.caCert())).addToData("ca.key", encode(tls.caKey()))
                .addToData("tls.crt", encode(tls.cert())).addToData("tls.key", encode(tls.key()))
                .build();
        try {
            if (existing == null) {
                client.secrets().inNamespace(namespace).resource(desired).create();
            } else {
                desired.getMetadata().setResourceVersion(existing.getMetadata().getResourceVersion());
                client.secrets().inNamespace(namespace).resource(desired).update();
            }
            return tls;
        } catch (KubernetesClientException e) {
            if (e.getCode() != 409) throw e;
            WebhookTls theirs = read(client.secrets().inNamespace(namespace).withName(secretName).get());
            if (theirs == null) throw e;
            return theirs;
        }
    }

    /** Writes {@code caPem} as the caBundle of every webhook of the configuration, if it is installed. */
    void patchCaBundle(String caPem) {
        MutatingWebhookConfiguration cfg = client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(configurationName).get();
        if (cfg == null) {
            LOG.info("MutatingWebhookConfiguration {} is not installed: no caBundle to write", configurationName);
            return;
        }
        String bundle = encode(caPem);
        boolean same = cfg.getWebhooks().stream().allMatch(w -> w.getClientConfig() != null && bundle.equals(w.getClientConfig().getCaBundle()));
        if (same) return;
        client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(configurationName).edit(c -> {
            for (MutatingWebhook w : c.getWebhooks()) {
                if (w.getClientConfig() != null) w.getClientConfig().setCaBundle(bundle);
            }
            return c;
        });
        LOG.info("caBundle of MutatingWebhookConfiguration {} updated", configurationName);
    }

    /** The caBundle the configuration holds now (PEM), or null. */
    String caBundle() {
        MutatingWebhookConfiguration cfg = client.admissionRegistration().v1().mutatingWebhookConfigurations().withName(configurationName).get();
        if (cfg == null || cfg.getWebhooks().isEmpty() || cfg.getWebhooks().get(0).getClientConfig() == null) return null;
        String b = cfg.getWebhooks().get(0).getClientConfig().getCaBundle();
        return b == null ? null : decode(b);
    }

    private static String encode(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.US_ASCII));
    }

    private static String decode(String b64) {
        return new String(Base64.getDecoder().decode(Objects.requireNonNull(b64)), StandardCharsets.US_ASCII);
    }
}
