package dev.farmem.e2e.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.e2e.harness.ControlPlaneExtension;
import dev.farmem.e2e.harness.Kubectl;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The API server reaches an admission webhook through its Service as in any cluster: it resolves the Service to a
 * Ready endpoint and dials that pod's IP (--enable-aggregator-routing, as a control plane without kube-proxy does).
 */
class AdmissionWebhookIT {
    @RegisterExtension
    static ControlPlaneExtension cluster = ControlPlaneExtension.withNodes(3);

    private static String ns;
    private static Kubectl kubectl;

    @AfterAll
    static void cleanUp() {
        if (kubectl != null) {
            kubectl.run("delete", "validatingwebhookconfiguration", "e2e-probe-" + ns, "--ignore-not-found");
            kubectl.run("delete", "namespace", ns, "--wait=false");
        }
    }

    @Test
    void aValidatingWebhookBehindAServiceDeniesWhatItShould(@TempDir Path tmp) throws Exception {
        ns = cluster.createNamespace("webhook");
        kubectl = cluster.kubectl();
        String dns = "probe-webhook." + ns + ".svc";
        Path keystore = tmp.resolve("webhook.p12");
        keytool("-genkeypair", "-alias", "webhook", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
                "-dname", "CN=" + dns, "-ext", "SAN=dns:" + dns, "-keystore", keystore.toString(),
                "-storetype", "PKCS12", "-storepass", "changeit");
        String certPem = keytool("-exportcert", "-rfc", "-alias", "webhook", "-keystore", keystore.toString(), "-storepass", "changeit");

        kubectl.run("create", "secret", "generic", "webhook-tls", "-n", ns, "--from-file=webhook.p12=" + keystore).check();
        kubectl.runWithInput("""
                apiVersion: v1
                kind: Pod
                metadata:
                  name: probe-webhook
                  labels: {app: probe-webhook}
                spec:
                  containers:
                    - name: webhook
                      image: ghcr.io/farmem/farmem-e2e:0.1.0
                      args: [probe-app, --port, "8443", --tls-keystore, /etc/tls/webhook.p12, --tls-password, changeit]
                      ports: [{name: https, containerPort: 8443}]
                      env:
                        - name: POD_IP
                          valueFrom: {fieldRef: {fieldPath: status.podIP}}
                      volumeMounts: [{name: tls, mountPath: /etc/tls}]
                      readinessProbe:
                        httpGet: {path: /healthz, port: https, scheme: HTTPS}
                        periodSeconds: 1
                  volumes:
                    - name: tls
                      secret: {secretName: webhook-tls}
                ---
                apiVersion: v1
                kind: Service
                metadata:
                  name: probe-webhook
                spec:
                  selector: {app: probe-webhook}
                  ports: [{port: 443, targetPort: https}]
                """, "apply", "-n", ns, "-f", "-").check();
        kubectl.run("wait", "-n", ns, "--for=condition=Ready", "pod/probe-webhook", "--timeout=60s").check();
        String clusterIp = kubectl.run("get", "service", "probe-webhook", "-n", ns, "-o", "jsonpath={.spec.clusterIP}").check().out();
        assertThat(clusterIp).isNotBlank();

        kubectl.runWithInput("""
                apiVersion: admissionregistration.k8s.io/v1
                kind: ValidatingWebhookConfiguration
                metadata:
                  name: e2e-probe-%1$s
                webhooks:
                  - name: probe.e2e.farmem.dev
                    admissionReviewVersions: [v1]
                    sideEffects: None
                    failurePolicy: Fail
                    timeoutSeconds: 10
                    namespaceSelector:
                      matchLabels: {kubernetes.io/metadata.name: %1$s}
                    rules:
                      - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [configmaps]}
                    clientConfig:
                      service: {namespace: %1$s, name: probe-webhook, path: /validate, port: 443}
                      caBundle: %2$s
                """.formatted(ns, Base64.getEncoder().encodeToString(certPem.getBytes())), "apply", "-f", "-").check();

        // the configuration takes a moment to reach the API server's webhook manager
        Kubectl.Result denied = retryUntil(Duration.ofSeconds(30), () -> kubectl.runWithInput("""
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: refused, labels: {farmem.dev/deny: "yes"}}
                """, "apply", "-n", ns, "-f", "-"), r -> r.exitCode() != 0);
        assertThat(denied.err()).contains("denied by the e2e probe webhook");
        kubectl.runWithInput("""
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: admitted}
                """, "apply", "-n", ns, "-f", "-").check();
    }

    private static Kubectl.Result retryUntil(Duration timeout, java.util.function.Supplier<Kubectl.Result> call,
                                             java.util.function.Predicate<Kubectl.Result> done) throws InterruptedException {
        Instant deadline = Instant.now().plus(timeout);
        Kubectl.Result r = call.get();
        while (!done.test(r) && Instant.now().isBefore(deadline)) {
            kubectl.run("delete", "configmap", "refused", "-n", ns, "--ignore-not-found");
            Thread.sleep(500);
            r = call.get();
        }
        return r;
    }

    private static String keytool(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "keytool").toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as("keytool %s: %s", args[0], out).isZero();
        return out;
    }

}
