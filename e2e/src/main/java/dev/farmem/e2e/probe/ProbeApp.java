package dev.farmem.e2e.probe;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * The server the e2e pods run (image farmem-e2e): it binds $POD_IP so a test can see what the local kubelet gave
 * the process. GET /healthz, /env?name=N (a variable), /file?path=P (a file, e.g. from a Secret volume),
 * /pods (its namespace and how many pods are in it, read with fabric8's in-cluster config), /exit?code=C (ends the
 * process, a container crash).
 */
public final class ProbeApp {
    private ProbeApp() {}

    public static void main(String[] args) throws IOException {
        int port = 8080;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--port") && i + 1 < args.length) {
                port = Integer.parseInt(args[++i]);
            } else {
                System.err.println("probe-app: unknown argument " + args[i] + " (expected --port P)");
                System.exit(2);
            }
        }
        String host = System.getenv().getOrDefault("POD_IP", "127.0.0.1");
        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 16);
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
        System.out.println("probe-app listening on " + host + ":" + port);
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
