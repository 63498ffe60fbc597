package dev.farmem.agent;

import dev.farmem.agent.server.ConnectionLimits;
import dev.farmem.common.ByteSize;
import dev.farmem.common.CommandLine;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.wire.Protocol;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * The agent's command line: every flag {@code --name VALUE} (or {@code --name=VALUE}) may also be
 * given as environment variable {@code FARMEM_NAME} (upper case, dashes as underscores), which is
 * how the pod sets them from the Downward API and a mounted Secret. A flag wins over the environment.
 */
public record AgentOptions(AgentSettings settings, InetSocketAddress metrics, Endpoint advertise, String registration, Duration drainTimeout) {

    /** Flag name, default (null: required or optional without default), help text. */
    private record Flag(String name, String defaultValue, String help) {
        String env() {
            return CommandLine.environmentName(name);
        }
    }

    private static final List<Flag> FLAGS = List.of(
            new Flag("listen", "0.0.0.0:7070", "HOST:PORT of the data port clients connect to"),
            new Flag("metrics", "0.0.0.0:9090", "HOST:PORT serving /metrics, /healthz and /readyz"),
            new Flag("advertise", null, "HOST:PORT clients should dial, reported in the MemoryNode status (default: the listen address, or this host's address when listening on 0.0.0.0)"),
            new Flag("capacity", null, "bytes of memory this node donates, e.g. 4GiB (required); the JVM needs -XX:MaxDirectMemorySize at least this large, or use --memory-file"),
            new Flag("slab-size", "64MiB", "allocation unit handed to claims, 4KiB..1GiB, must divide the capacity"),
            new Flag("key-file", null, "file holding the pool's token key: raw bytes, at least 32 (required; a mounted Secret key)"),
            new Flag("pool", "default", "name of the FarMemoryPool this node serves"),
            new Flag("node-name", null, "name of this memory node, as tokens name it (default: the host name)"),
            new Flag("memory-file", null, "back the region by this file instead of anonymous memory, e.g. /dev/hugepages/farmem for huge pages; it is deleted once mapped"),
            new Flag("max-frame", "1MiB", "largest protocol frame accepted"),
            new Flag("max-queued", "4MiB", "response bytes queued for one connection before the agent stops reading its requests (back-pressure on a client that does not read replies); at least 128KiB"),
            new Flag("max-unauthenticated", "256", "connections that have not presented a HELLO yet, at one time; more are refused"),
            new Flag("hello-timeout", "10s", "how long a new connection has to present its HELLO"),
            new Flag("partial-frame-timeout", "30s", "how long a connection may hold a started, unfinished frame while the agent reads it; then it is closed"),
            new Flag("io-threads", null, "network threads (default: the number of CPUs)"),
            new Flag("drain-timeout", "10s", "on SIGTERM, the longest wait for requests in flight (e.g. 10s, 500ms)"),
            new Flag("transport", "tcp", "tcp | rdma | auto: how clients reach this node; this release serves tcp, rdma stops at start saying what is missing, auto serves tcp"),
            new Flag("registration", "auto", "auto | none | kubernetes: report to the Kubernetes API (auto: when KUBERNETES_SERVICE_HOST is set)"));

    public static String help() {
        StringBuilder b = new StringBuilder("usage: ./farmem agent [--flag VALUE]...\n\n"
                + "Runs a farmem memory node: serves a region of off-heap memory, split into slabs, to claims that present\n"
                + "a capability token signed with the pool's key. Every flag may be set in the environment instead.\n\n");
        for (Flag f : FLAGS) {
            b.append(String.format("  --%-14s %s%n  %-16s env %s%s%n", f.name, f.help, "", f.env(),
                    f.defaultValue == null ? "" : ", default " + f.defaultValue));
        }
        b.append("\nSizes: 4096, 512KiB, 64MiB, 4GiB (binary) or 1G (decimal). Signals: SIGTERM stops accepting, finishes\n"
                + "requests in flight and exits 0.\n");
        return b.toString();
    }

    /** Parses flags over the environment; throws IllegalArgumentException saying which value is wrong. */
    public static AgentOptions parse(String[] args, Map<String, String> env) {
        Set<String> names = FLAGS.stream().map(Flag::name).collect(Collectors.toSet());
        CommandLine cl = new CommandLine(args, names, Set.of(), env::get);
        Map<String, String> given = new LinkedHashMap<>();
        for (Flag f : FLAGS) {
            String v = cl.string(f.name, f.defaultValue);
            if (v != null) given.put(f.name, v);
        }

        String capacityText = cl.required("capacity");
        String keyFile = cl.required("key-file");
        long capacity = ByteSize.parse(capacityText, "--capacity");
        long slabSize = ByteSize.parse(given.get("slab-size"), "--slab-size");
        if (capacity <= 0 || slabSize <= 0 || capacity % slabSize != 0) {
            throw new IllegalArgumentException("--capacity " + capacityText + " is not a positive multiple of --slab-size " + given.get("slab-size"));
        }
        long maxFrame = ByteSize.parse(given.get("max-frame"), "--max-frame");
        if (maxFrame < Protocol.MIN_MAX_FRAME_SIZE || maxFrame > (64 << 20)) {
            throw new IllegalArgumentException("--max-frame " + given.get("max-frame") + " must be between " + Protocol.MIN_MAX_FRAME_SIZE + " bytes and 64MiB");
        }
        int ioThreads = given.containsKey("io-threads") ? positiveInt(given.get("io-threads"), "--io-threads")
                : Runtime.getRuntime().availableProcessors();
        InetSocketAddress listen = address(given.get("listen"), "--listen");
        InetSocketAddress metrics = address(given.get("metrics"), "--metrics");
        String node = given.containsKey("node-name") ? given.get("node-name") : hostName();
        String registration = given.get("registration");
        String transport = given.get("transport");
        if (!List.of("tcp", "rdma", "auto").contains(transport)) {
            throw new IllegalArgumentException("--transport '" + transport + "' must be tcp, rdma or auto");
        }
        if (transport.equals("rdma")) {
            RdmaSupport.Status rdma = RdmaSupport.probe();
            throw new IllegalArgumentException("--transport rdma: " + (rdma.available() ? rdma.reason() + ", but this release serves TCP only"
                    : rdma.reason()) + "; use --transport tcp");
        }
        if (!List.of("auto", "none", "kubernetes").contains(registration)) {
            throw new IllegalArgumentException("--registration '" + registration + "' must be auto, none or kubernetes");
        }
        Endpoint advertise = given.containsKey("advertise") ? parseEndpoint(given.get("advertise"), "--advertise") : advertised(listen);
        byte[] key = TokenKey.read(Path.of(keyFile));
        Path memoryFile = given.containsKey("memory-file") ? Path.of(given.get("memory-file")) : null;
        AgentSettings settings = new AgentSettings(node, given.get("pool"), listen, capacity, slabSize, key, memoryFile, (int) maxFrame,
                Protocol.DEFAULT_MAX_SEGMENTS, ioThreads, limits(given));
        return new AgentOptions(settings, metrics, advertise, registration, duration(given.get("drain-timeout"), "--drain-timeout"));
    }

    private static ConnectionLimits limits(Map<String, String> given) {
        long maxQueued = ByteSize.parse(given.get("max-queued"), "--max-queued");
        if (maxQueued < (128 << 10) || maxQueued > (1L << 30)) {
            throw new IllegalArgumentException("--max-queued " + given.get("max-queued") + " must be between 128KiB and 1GiB");
        }
        Duration hello = positive(duration(given.get("hello-timeout"), "--hello-timeout"), "--hello-timeout");
        Duration partial = positive(duration(given.get("partial-frame-timeout"), "--partial-frame-timeout"), "--partial-frame-timeout");
        return new ConnectionLimits((int) maxQueued, positiveInt(given.get("max-unauthenticated"), "--max-unauthenticated"), hello, partial);
    }

    private static Duration positive(Duration d, String what) {
        if (d.isZero() || d.isNegative()) throw new IllegalArgumentException(what + " must be longer than zero");
        return d;
    }

    private static InetSocketAddress address(String text, String what) {
        Endpoint e;
        if (text.endsWith(":0")) {
            e = parseEndpoint(text.substring(0, text.length() - 2) + ":1", what);
            return new InetSocketAddress(e.host(), 0);
        }
        e = parseEndpoint(text, what);
        return new InetSocketAddress(e.host(), e.port());
    }

    private static Endpoint parseEndpoint(String text, String what) {
        try {
            return Endpoint.parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(what + ": " + e.getMessage());
        }
    }

    private static Endpoint advertised(InetSocketAddress listen) {
        if (listen.getPort() == 0) return null; // known once bound
        if (!listen.getAddress().isAnyLocalAddress()) return new Endpoint(listen.getAddress().getHostAddress(), listen.getPort());
        try {
            return new Endpoint(InetAddress.getLocalHost().getHostAddress(), listen.getPort());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("listening on " + listen + " but this host's address is unknown (" + e.getMessage() + "): set --advertise");
        }
    }

    private static String hostName() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("this host's name is unknown (" + e.getMessage() + "): set --node-name");
        }
    }

    private static int positiveInt(String text, String what) {
        try {
            int v = Integer.parseInt(text.trim());
            if (v >= 1) return v;
        } catch (NumberFormatException ignored) {
            // falls through to the message below
        }
        throw new IllegalArgumentException(what + " '" + text + "' must be a whole number of at least 1");
    }

    static Duration duration(String text, String what) {
        String t = text.trim();
        try {
            if (t.endsWith("ms")) return Duration.ofMillis(Long.parseLong(t.substring(0, t.length() - 2)));
            if (t.endsWith("s")) return Duration.ofSeconds(Long.parseLong(t.substring(0, t.length() - 1)));
            if (t.endsWith("m")) return Duration.ofMinutes(Long.parseLong(t.substring(0, t.length() - 1)));
        } catch (NumberFormatException ignored) {
            // falls through to the message below
        }
        throw new IllegalArgumentException(what + " '" + text + "' is not a duration: write e.g. 500ms, 10s or 1m");
    }
}
