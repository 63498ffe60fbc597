package dev.farmem.e2e.probe;

import com.sun.net.httpserver.HttpExchange;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.EnvironmentDefaults;
import com.sun.net.httpserver.HttpServer;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Map;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The server the e2e pods run (image ghcr.io/farmem/farmem-e2e), on every address of its pod, so a test can see what
 * the kubelet gave the container. GET /healthz, /env?name=N (a variable), /file?path=P (a file, e.g. from a Secret volume),
 * /validate (an admission webhook denying objects labelled farmem.dev/deny; serve it over TLS with
 * --tls-keystore), /pods (its namespace and how many pods are in it, read with fabric8's in-cluster config), /exit?code=C (ends the
 * process, a container crash).
 */
public final class ProbeApp {
    private static final ObjectMapper JSON = new ObjectMapper();

    private ProbeApp() {}

    @Command(name = "java -jar farmem-e2e.jar probe-app", sortOptions = false,
            description = {"The small server the e2e test pods run, on $POD_IP.", ""})
    static final class Flags {
        @Option(names = "--port", paramLabel = "P", defaultValue = "8080", description = "the port to serve on")
        int port;
        @Option(names = "--tls-keystore", paramLabel = "FILE.p12", description = "serve HTTPS with the key and certificate in this PKCS#12 file")
        Path keystore;
        @Option(names = "--tls-password", paramLabel = "PW", defaultValue = "", description = "the keystore's password")
        String password;
    }

    public static void main(String[] args) throws IOException {
        Flags flags = Cli.of(new Flags(), EnvironmentDefaults.NONE).parseOrExit(args, f -> f);
        int port = flags.port;
        Path keystore = flags.keystore;
        String password = flags.password;
        // every address of the pod's own network namespace: its pod IP, and localhost for kubectl port-forward
        InetSocketAddress address = new InetSocketAddress(port);
        HttpServer server = keystore == null ? HttpServer.create(address, 16) : https(address, keystore, password.toCharArray());
        server.createContext("/validate", ProbeApp::validate);
        server.createContext("/healthz", ex -> reply(ex, 200, "ok"));
        server.createContext("/env", ex -> {
            String v = System.getenv(query(ex).getOrDefault("name", ""));
            reply(ex, v == null ? 404 : 200, v == null ? "unset" : v);
        });
        server.createContext("/file", ex -> {
            Path p = Path.of(query(ex).getOrDefault("path", ""));
            if (Files.isRegularFile(p)) {
                reply(ex, 200, Files.readString(p));
            } else {
                reply(ex, 404, "no file " + p);
            }
        });
        server.createContext("/pods", ex -> {
            // in-cluster config exactly as the operator builds it: from the env and files the kubelet provides
            try (KubernetesClient client = new KubernetesClientBuilder().build()) {
                String ns = client.getNamespace();
                reply(ex, 200, ns + " " + client.pods().inNamespace(ns).list().getItems().size());
            } catch (RuntimeException e) {
                reply(ex, 500, e.toString());
            }
        });
        server.createContext("/exit", ex -> {
            int code = Integer.parseInt(query(ex).getOrDefault("code", "1"));
            reply(ex, 200, "exiting " + code);
            Runtime.getRuntime().halt(code);
        });
        server.start();
        System.out.println("probe-app listening on port " + port);
    }

    private static HttpsServer https(InetSocketAddress address, Path keystore, char[] password) throws IOException {
        try (InputStream in = Files.newInputStream(keystore)) {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(in, password);
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, password);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            HttpsServer server = HttpsServer.create(address, 16);
            server.setHttpsConfigurator(new HttpsConfigurator(ctx));
            return server;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use keystore " + keystore + ": " + e.getMessage(), e);
        }
    }

    /** A validating admission webhook: denies any object labelled farmem.dev/deny, admits the rest. */
    private static void validate(HttpExchange ex) throws IOException {
        JsonNode review = JSON.readTree(ex.getRequestBody());
        JsonNode request = review.path("request");
        boolean deny = request.path("object").path("metadata").path("labels").has("farmem.dev/deny");
        ObjectNode response = JSON.createObjectNode();
        response.put("uid", request.path("uid").asText());
        response.put("allowed", !deny);
        if (deny) {
            response.putObject("status").put("code", 403).put("message", "denied by the e2e probe webhook at "
                    + ex.getLocalAddress().getAddress().getHostAddress());
        }
        ObjectNode out = JSON.createObjectNode();
        out.put("apiVersion", "admission.k8s.io/v1");
        out.put("kind", "AdmissionReview");
        out.set("response", response);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        reply(ex, 200, JSON.writeValueAsString(out));
    }

    private static Map<String, String> query(HttpExchange ex) {
        Map<String, String> m = new HashMap<>();
        String q = ex.getRequestURI().getRawQuery();
        if (q != null) {
            for (String kv : q.split("&")) {
                int eq = kv.indexOf('=');
                if (eq > 0) {
                    m.put(kv.substring(0, eq), URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
                }
            }
        }
        return m;
    }

    private static void reply(HttpExchange ex, int code, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        ex.sendResponseHeaders(code, b.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(b);
        }
    }
}
