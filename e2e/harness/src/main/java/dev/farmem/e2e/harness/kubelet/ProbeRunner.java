package dev.farmem.e2e.harness.kubelet;

import dev.farmem.e2e.harness.LoopbackAddresses;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.Probe;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * One probe attempt, as the kubelet makes it: httpGet (2xx/3xx is success, HTTPS not verified) or tcpSocket against
 * the pod's address. Any host outside 127.0.0.0/8 fails without being dialled.
 */
final class ProbeRunner {
    /** The outcome of one attempt; {@code detail} says why it failed. */
    record Result(boolean success, String detail) {}

    private final HttpClient http;

    ProbeRunner() {
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(1)).sslContext(trustAll()).build();
    }

    Result run(Probe probe, Container container, String podIp) {
        Duration timeout = Duration.ofSeconds(probe.getTimeoutSeconds() == null ? 1 : Math.max(1, probe.getTimeoutSeconds()));
        try {
            if (probe.getHttpGet() != null) {
                var g = probe.getHttpGet();
                String host = g.getHost() == null || g.getHost().isEmpty() ? podIp : g.getHost();
                requireLoopback(host);
                String scheme = g.getScheme() == null ? "http" : g.getScheme().toLowerCase();
                String path = g.getPath() == null || g.getPath().isEmpty() ? "/" : g.getPath();
                URI uri = URI.create(scheme + "://" + host + ":" + port(g.getPort(), container) + (path.startsWith("/") ? path : "/" + path));
                HttpRequest.Builder req = HttpRequest.newBuilder(uri).timeout(timeout).GET();
                if (g.getHttpHeaders() != null) {
                    g.getHttpHeaders().forEach(h -> req.header(h.getName(), h.getValue()));
                }
                HttpResponse<Void> resp = http.send(req.build(), HttpResponse.BodyHandlers.discarding());
                return resp.statusCode() >= 200 && resp.statusCode() < 400 ? new Result(true, "")
                        : new Result(false, "HTTP probe failed with statuscode: " + resp.statusCode());
            }
            if (probe.getTcpSocket() != null) {
                var t = probe.getTcpSocket();
                String host = t.getHost() == null || t.getHost().isEmpty() ? podIp : t.getHost();
                requireLoopback(host);
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress(host, port(t.getPort(), container)), (int) timeout.toMillis());
                }
                return new Result(true, "");
            }
            return new Result(false, "only httpGet and tcpSocket probes are run by the local kubelet");
        } catch (PodConfigException e) {
            return new Result(false, e.getMessage());
        } catch (IOException e) {
            return new Result(false, "probe failed: " + e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, "interrupted");
        }
    }

    private static void requireLoopback(String host) {
        if (!LoopbackAddresses.isLoopback(host) && !"localhost".equals(host)) {
            throw new PodConfigException("probe host " + host + " is outside 127.0.0.0/8; the local kubelet dials loopback only");
        }
    }

    private static int port(IntOrString port, Container c) {
        if (port == null) {
            throw new PodConfigException("probe has no port");
        }
        if (port.getIntVal() != null) {
            return port.getIntVal();
        }
        String name = port.getStrVal();
        if (c.getPorts() != null) {
            for (ContainerPort p : c.getPorts()) {
                if (name.equals(p.getName())) {
                    return p.getContainerPort();
                }
            }
        }
        throw new PodConfigException("probe port \"" + name + "\" is not a named port of container " + c.getName());
    }

    private static SSLContext trustAll() {
        try {
            SSLContext ctx = SSLContext.getInstance("TLS");
            // the kubelet does not verify a probe's certificate either
            // (an X509ExtendedTrustManager, so the JDK adds no host-name check of its own)
            ctx.init(null, new TrustManager[] {new X509ExtendedTrustManager() {
                @Override public void checkClientTrusted(X509Certificate[] chain, String authType) { }
                @Override public void checkServerTrusted(X509Certificate[] chain, String authType) { }
                @Override public void checkClientTrusted(X509Certificate[] chain, String authType, Socket s) { }
                @Override public void checkServerTrusted(X509Certificate[] chain, String authType, Socket s) { }
                @Override public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine e) { }
                @Override public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine e) { }
                @Override public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
            }}, new SecureRandom());
            return ctx;
        } catch (Exception e) {
            throw new IllegalStateException("cannot build the probe TLS context", e);
        }
    }
}
