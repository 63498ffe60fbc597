package dev.farmem.e2e.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The cluster's client CA, as kubeadm makes one: kubelets authenticate as {@code system:node:<name>} in
 * {@code system:nodes} (so the Node authorizer and NodeRestriction apply to them), kube-proxy as
 * {@code system:kube-proxy}, and the API server to kubelets as a member of {@code system:masters}. Made with the
 * machine's {@code openssl}, EC P-256 keys, valid for two days.
 */
public final class ClusterPki {
    private final Path dir;
    private final SecureRandom serials = new SecureRandom();

    private ClusterPki(Path dir) {
        this.dir = dir;
    }

    /** A new CA in {@code dir}/ca.crt and ca.key. */
    public static ClusterPki create(Path dir) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + dir, e);
        }
        ClusterPki pki = new ClusterPki(dir);
        pki.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", dir.resolve("ca.key").toString(), "-out", dir.resolve("ca.crt").toString(),
                "-days", "2", "-subj", "/CN=farmem-e2e-client-ca");
        return pki;
    }

    public Path caCert() { return dir.resolve("ca.crt"); }

    /** A client certificate for {@code user} in {@code group} (may be null), signed by the CA; returns {cert, key}. */
    public synchronized Path[] issue(String file, String user, String group) {
        Path key = dir.resolve(file + ".key");
        Path csr = dir.resolve(file + ".csr");
        Path cert = dir.resolve(file + ".crt");
        openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", key.toString(), "-out", csr.toString(), "-subj", "/CN=" + user + (group == null ? "" : "/O=" + group));
        openssl("x509", "-req", "-in", csr.toString(), "-CA", caCert().toString(), "-CAkey", dir.resolve("ca.key").toString(),
                "-set_serial", Long.toString(serials.nextLong() & Long.MAX_VALUE), "-out", cert.toString(), "-days", "2");
        return new Path[] {cert, key};
    }

    private void openssl(String... args) {
        List<String> command = new ArrayList<>(List.of("openssl"));
        command.addAll(List.of(args));
        Command.run(dir, Duration.ofSeconds(30), command).check("openssl " + args[0]);
    }
}
