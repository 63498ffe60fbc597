package dev.farmem.agent;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The agent as a real process (java running AgentMain): health, the metric contract, SIGTERM. */
class AgentProcessTest {

    static final Pattern SERVING = Pattern.compile("serving on (\\S+) .*as incarnation (\\p{XDigit}{16}), metrics on http://(\\S+)/metrics");

    @Test
    void servesMetricsAsDocumentedAndDrainsOnSigtermExitingZero(@TempDir Path dir) throws Exception {
        byte[] key = TokenKey.generate();
        Path keyFile = Files.write(dir.resolve("pool.key"), key);
        Path logFile = dir.resolve("agent.log");
        Process agent = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "dev.farmem.agent.AgentMain",
                "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--capacity", "8MiB", "--slab-size", "1MiB",
                "--key-file", keyFile.toString(), "--node-name", "proc-node", "--registration", "none", "--io-threads", "1")
                .redirectErrorStream(true).redirectOutput(logFile.toFile()).start();
        try {
            Matcher serving = null;
            for (long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(30); serving == null && System.nanoTime() < until; ) {
                for (String line : Files.readAllLines(logFile)) {
                    Matcher m = SERVING.matcher(line);
                    if (m.find()) serving = m;
                }
                if (serving == null) Thread.sleep(20);
            }
            assertThat(serving).as("agent log: %s", Files.readString(logFile)).isNotNull();
            Endpoint data = Endpoint.parse(serving.group(1));
            String metrics = "http://" + serving.group(3);
            long incarnation = Incarnation.parse(serving.group(2));

            HttpClient http = HttpClient.newHttpClient();
            assertThat(get(http, metrics + "/healthz").statusCode()).isEqualTo(200);
            assertThat(get(http, metrics + "/readyz").statusCode()).isEqualTo(200);

            try (NettyTransport tcp = new NettyTransport()) {
                String token = new TokenIssuer(key).issue("proc-node", incarnation, "uid", 1, 0, 8, Rights.READ_WRITE, Long.MAX_VALUE);
                MemoryNodeConnection c = tcp.connect(data, token).join();
                c.read(0, 0, ByteBuffer.allocate(64)).join();

                String exposition = get(http, metrics + "/metrics").body();
                for (String name : documentedAgentMetrics()) {
                    assertThat(exposition).as("exported metric %s", name).containsPattern("(?m)^" + name + "(_bucket|_count|_sum)?[{ ]");
                }
                assertThat(exposition).contains("farmem_agent_requests_total{op=\"read\",} 1.0");

                ByteBuffer src = ByteBuffer.allocateDirect(4096);
                List<CompletableFuture<Void>> writes = new ArrayList<>();
                for (int i = 0; i < 3000; i++) writes.add(c.writev(i % 8, new WriteBatch().add((i % 256) * 4096L, src, 0, 4096)));
                writes.get(100).join();
                agent.destroy(); // SIGTERM

                assertThat(agent.waitFor(20, TimeUnit.SECONDS)).as("agent exits after SIGTERM").isTrue();
                assertThat(agent.exitValue()).isZero();
                int acked = 0;
                for (CompletableFuture<Void> w : writes) {
                    try {
                        w.join();
                        acked++;
                    } catch (CompletionException e) {
                        assertThat(((TransportException) e.getCause()).code()).isEqualTo(ErrorCode.CONNECTION_CLOSED);
                    }
                }
                assertThat(acked).isGreaterThan(100);
            }
            String rest = Files.readString(logFile);
            assertThat(rest).contains("stopping").contains("stopped");
        } finally {
            agent.destroyForcibly();
        }
    }

    private static HttpResponse<String> get(HttpClient http, String url) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The farmem_agent_* names of docs/metrics.md, the contract with the chart. */
    private static List<String> documentedAgentMetrics() throws Exception {
        Path docs = Path.of("..", "docs", "metrics.md");
        List<String> names = new ArrayList<>();
        Matcher m = Pattern.compile("`(farmem_agent_[a-z_]+)`").matcher(Files.readString(docs));
        while (m.find()) names.add(m.group(1));
        assertThat(names).hasSizeGreaterThan(5);
        return names;
    }
}
