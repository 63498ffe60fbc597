package dev.farmem.operator.webhook;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * The webhook's key material as PEM: a self-signed CA and a serving certificate it signs for
 * the webhook Service's DNS names (ECDSA P-256), and the {@link SSLContext} that serves it.
 */
public record WebhookTls(String caCert, String caKey, String cert, String key) {

    /** A new CA valid for {@code caLife} and a serving certificate valid for {@code certLife}. */
    public static WebhookTls issue(List<String> dnsNames, Duration caLife, Duration certLife) {
        try {
            KeyPair ca = keyPair();
            Instant now = Instant.now();
            X500Name caName = new X500Name("CN=farmem-webhook-ca");
            X509v3CertificateBuilder cab = new JcaX509v3CertificateBuilder(caName, serial(), Date.from(now.minusSeconds(300)),
                    Date.from(now.plus(caLife)), caName, ca.getPublic());
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            cab.addExtension(Extension.basicConstraints, true, new BasicConstraints(0));
            cab.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            cab.addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(ca.getPublic()));
            X509Certificate caCert = sign(cab, ca.getPrivate());
            return withServingCert(pem(caCert), pkcs8(ca.getPrivate()), dnsNames, certLife);
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot issue the webhook CA: " + e.getMessage(), e);
        }
    }

    /** A new serving certificate signed by this material's CA (the CA stays, so the caBundle need not change). */
    public static WebhookTls withServingCert(String caCertPem, String caKeyPem, List<String> dnsNames, Duration certLife) {
        try {
            X509Certificate caCert = certificate(caCertPem);
            PrivateKey caKey = privateKey(caKeyPem);
            KeyPair kp = keyPair();
            Instant now = Instant.now();
            Instant notAfter = now.plus(certLife);
            if (notAfter.isAfter(caCert.getNotAfter().toInstant())) notAfter = caCert.getNotAfter().toInstant();
            X509v3CertificateBuilder b = new JcaX509v3CertificateBuilder(caCert, serial(), Date.from(now.minusSeconds(300)),
                    Date.from(notAfter), new X500Name("CN=" + dnsNames.get(0)), kp.getPublic());
            GeneralName[] names = dnsNames.stream().map(n -> new GeneralName(GeneralName.dNSName, n)).toArray(GeneralName[]::new);
            b.addExtension(Extension.subjectAlternativeName, false, new GeneralNames(names));
            b.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            b.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            b.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposeId.id_kp_serverAuth));
            X509Certificate cert = sign(b, caKey);
            return new WebhookTls(caCertPem, caKeyPem, pem(cert), pkcs8(kp.getPrivate()));
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot issue the webhook's serving certificate: " + e.getMessage(), e);
        }
    }

    /** When the serving certificate expires. */
    public Instant certNotAfter() {
        return certificate(cert).getNotAfter().toInstant();
    }

    public Instant caNotAfter() {
        return certificate(caCert).getNotAfter().toInstant();
    }

    /** True if the serving certificate names every one of {@code dnsNames}. */
    public boolean covers(List<String> dnsNames) {
        try {
            var sans = certificate(cert).getSubjectAlternativeNames();
            if (sans == null) return false;
            List<String> have = sans.stream().filter(s -> (Integer) s.get(0) == GeneralName.dNSName).map(s -> (String) s.get(1)).toList();
            return have.containsAll(dnsNames);
        } catch (GeneralSecurityException e) {
            return false;
        }
    }

    /** A key manager that presents the serving certificate (and the CA after it). */
    public X509ExtendedKeyManager keyManager() {
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            char[] pw = new char[0];
            ks.setKeyEntry("webhook", privateKey(key), pw, new Certificate[] {certificate(cert), certificate(caCert)});
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, pw);
            return (X509ExtendedKeyManager) kmf.getKeyManagers()[0];
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot load the webhook's key and certificate: " + e.getMessage(), e);
        }
    }

    /** A client context that trusts only this CA (tests, and the operator checking its own endpoint). */
    public SSLContext clientContext() {
        try {
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            ts.setCertificateEntry("ca", certificate(caCert));
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(null, tmf.getTrustManagers(), new SecureRandom());
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalStateException("cannot build a TLS context trusting the webhook CA: " + e.getMessage(), e);
        }
    }

    // ---- PEM and keys ------------------------------------------------------------------

    private static KeyPair keyPair() throws GeneralSecurityException {
        KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
        g.initialize(new ECGenParameterSpec("secp256r1"));
        return g.generateKeyPair();
    }

    private static BigInteger serial() {
        return new BigInteger(96, new SecureRandom()).setBit(95);
    }

    private static X509Certificate sign(X509v3CertificateBuilder b, PrivateKey key) throws GeneralSecurityException {
        try {
            return new JcaX509CertificateConverter().getCertificate(b.build(new JcaContentSignerBuilder("SHA256withECDSA").build(key)));
        } catch (OperatorCreationException e) {
            throw new GeneralSecurityException(e);
        }
    }

    static String pem(Object o) throws IOException {
        StringWriter w = new StringWriter();
        try (JcaPEMWriter p = new JcaPEMWriter(w)) {
            p.writeObject(o);
        }
        return w.toString();
    }

    /** A private key as PKCS#8 PEM ("PRIVATE KEY"), the form every TLS stack reads. */
    static String pkcs8(PrivateKey key) throws IOException {
        return pem(new JcaPKCS8Generator(key, null));
    }

    static X509Certificate certificate(String pem) {
        try {
            return (X509Certificate) CertificateFactory.getInstance("X.509")
                    .generateCertificate(new ByteArrayInputStream(pem.getBytes(StandardCharsets.US_ASCII)));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("not a PEM certificate: " + e.getMessage(), e);
        }
    }

    static PrivateKey privateKey(String pem) {
        try (PEMParser p = new PEMParser(new StringReader(pem))) {
            Object o = p.readObject();
            JcaPEMKeyConverter conv = new JcaPEMKeyConverter();
            if (o instanceof PEMKeyPair kp) return conv.getPrivateKey(kp.getPrivateKeyInfo());
            if (o instanceof PrivateKeyInfo pki) return conv.getPrivateKey(pki);
            throw new IllegalArgumentException("not a PEM private key (found " + (o == null ? "nothing" : o.getClass().getSimpleName()) + ")");
        } catch (IOException e) {
            throw new IllegalArgumentException("not a PEM private key: " + e.getMessage(), e);
        }
    }
}
