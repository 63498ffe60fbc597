package dev.farmem.agent;

import dev.farmem.agent.server.ConnectionLimits;
import dev.farmem.common.ByteSize;
import dev.farmem.common.Endpoint;
import dev.farmem.common.cli.Cli;
import dev.farmem.common.cli.Converters;
import dev.farmem.common.cli.EnvironmentDefaults;
import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.wire.Protocol;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The agent's command line: every flag {@code --name VALUE} (or {@code --name=VALUE}) may also be
 * given as environment variable {@code FARMEM_NAME} (upper case, dashes as underscores), which is
 * how the pod sets them from the Downward API and a mounted Secret. A flag wins over the environment.
 */
public record AgentOptions(AgentSettings settings, InetSocketAddress metrics, Endpoint advertise, String registration, Duration drainTimeout,
                           String transport) {

    /** The flags as picocli reads them; {@link #options} checks them together. */
    @Command(name = "./farmem agent", sortOptions = false, usageHelpAutoWidth = false,
            description = {"Runs a farmem memory node: serves a region of off-heap memory, split into slabs, to claims that present",
                "a capability token signed with the pool's key. Every flag may be set in the environment instead.", ""},
            footer = {"", "Sizes: 4096, 512KiB, 64MiB, 4GiB (binary) or 1G (decimal). Signals: SIGTERM stops accepting, finishes",
                "requests in flight and exits 0."})
    static final class Flags {
        @Option(names = "--listen", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:7070",
                description = "the data port clients connect to")
        String listen;
        @Option(names = "--metrics", paramLabel = "HOST:PORT", defaultValue = "0.0.0.0:9090",
                description = "serves /metrics, /healthz and /readyz")
        String metrics;
        @Option(names = "--advertise", paramLabel = "HOST:PORT",
                description = "what clients should dial, reported in the MemoryNode status (default: the listen address, or this host's "
                        + "address when listening on 0.0.0.0)")
        String advertise;
        @Option(names = "--capacity", paramLabel = "SIZE", converter = Converters.Bytes.class,
                description = "bytes of memory this node donates, e.g. 4GiB (required); the JVM needs -XX:MaxDirectMemorySize at least "
                        + "this large, or use --memory-file")
        Long capacity;
        @Option(names = "--slab-size", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "64MiB",
                description = "allocation unit handed to claims, 4KiB..1GiB, must divide the capacity")
        long slabSize;
        @Option(names = "--key-file", paramLabel = "PATH",
                description = "file holding the pool's token key: raw bytes, at least 32 (required; a mounted Secret key)")
        Path keyFile;
        @Option(names = "--pool", paramLabel = "NAME", defaultValue = "default", description = "name of the FarMemoryPool this node serves")
        String pool;
        @Option(names = "--node-name", paramLabel = "NAME",
                description = "name of this memory node, as tokens name it (default: the host name)")
        String nodeName;
        @Option(names = "--memory-file", paramLabel = "PATH",
                description = "back the region by this file instead of anonymous memory, e.g. /dev/hugepages/farmem for huge pages; it is "
                        + "deleted once mapped")
        Path memoryFile;
        @Option(names = "--max-frame", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "1MiB",
                description = "largest protocol frame accepted")
        long maxFrame;
        @Option(names = "--max-queued", paramLabel = "SIZE", converter = Converters.Bytes.class, defaultValue = "4MiB",
                description = "response bytes queued for one connection before the agent stops reading its requests (back-pressure on a "
                        + "client that does not read replies); at least 128KiB")
        long maxQueued;
        @Option(names = "--max-unauthenticated", paramLabel = "N", defaultValue = "256",
                description = "connections that have not presented a HELLO yet, at one time; more are refused")
        int maxUnauthenticated;
        @Option(names = "--hello-timeout", paramLabel = "DURATION", converter = Converters.Durations.class, defaultValue = "10s",
                description = "how long a new connection has to present its HELLO")
        Duration helloTimeout;
        @Option(names = "--partial-frame-timeout", paramLabel = "DURATION", converter = Converters.Durations.class, defaultValue = "30s",
                description = "how long a connection may hold a started, unfinished frame while the agent reads it; then it is closed")
        Duration partialFrameTimeout;
        @Option(names = "--io-threads", paramLabel = "N", description = "network threads (default: the number of CPUs)")
        Integer ioThreads;
        @Option(names = "--drain-timeout", paramLabel = "DURATION", converter = Converters.Durations.class, defaultValue = "10s",
                description = "on SIGTERM, the longest wait for requests in flight (e.g. 10s, 500ms)")
        Duration drainTimeout;
        @Option(names = "--transport", paramLabel = "KIND", defaultValue = "tcp",
                description = "tcp | rdma | auto: how clients reach this node; rdma serves RDMA beside TCP on the advertised address (an RDMA "
                        + "device's IP) and stops at start saying what is missing, auto serves RDMA where it can")
        String transport;
        @Option(names = "--registration", paramLabel = "MODE", defaultValue = "auto",
                description = "auto | none | kubernetes: report to the Kubernetes API (auto: when KUBERNETES_SERVICE_HOST is set)")
        String registration;
    }

    /** The agent's command line over {@code env}. */
    static Cli<Flags> cli(Map<String, String> env) {
        return Cli.of(new Flags(), EnvironmentDefaults.everyOption(env));
    }

    public static String help() {
        return cli(Map.of()).usage();
    }

    /** Parses flags over the environment; throws IllegalArgumentException saying which value is wrong. */
    public static AgentOptions parse(String[] args, Map<String, String> env) {
        Cli<Flags> cli = cli(env);
        cli.parse(args);
        return options(cli);
    }

    /** For the main: --help prints the usage and exits 0, bad flags print what was wrong and exit 2. */
    static AgentOptions parseOrExit(String[] args, Map<String, String> env) {
        Cli<Flags> cli = cli(env);
        return cli.parseOrExit(args, flags -> options(cli));
    }

    /** The flags checked together and turned into the agent's settings. */
    static AgentOptions options(Cli<Flags> cli) {
        Flags f = cli.command();
        long capacity = cli.required("--capacity", f.capacity);
        Path keyFile = cli.required("--key-file", f.keyFile);
        if (capacity <= 0 || f.slabSize <= 0 || capacity % f.slabSize != 0) {
            throw new IllegalArgumentException("--capacity " + ByteSize.format(capacity) + " is not a positive multiple of --slab-size "
                    + ByteSize.format(f.slabSize));
        }
        if (f.maxFrame < Protocol.MIN_MAX_FRAME_SIZE || f.maxFrame > (64 << 20)) {
            throw new IllegalArgumentException("--max-frame " + ByteSize.format(f.maxFrame) + " must be between " + Protocol.MIN_MAX_FRAME_SIZE
                    + " bytes and 64MiB");
        }
        int ioThreads = f.ioThreads != null ? atLeastOne(f.ioThreads, "--io-threads") : Runtime.getRuntime().availableProcessors();
        InetSocketAddress listen = address(f.listen, "--listen");
        InetSocketAddress metrics = address(f.metrics, "--metrics");
        String node = f.nodeName != null ? f.nodeName : hostName();
        if (!List.of("tcp", "rdma", "auto").contains(f.transport)) {
            throw new IllegalArgumentException("--transport '" + f.transport + "' must be tcp, rdma or auto");
        }
        if (f.transport.equals("rdma")) {
            RdmaSupport.Status rdma = RdmaSupport.probe();
            if (!rdma.available()) throw new IllegalArgumentException("--transport rdma: " + rdma.reason() + "; use --transport tcp");
        }
        if (!List.of("auto", "none", "kubernetes").contains(f.registration)) {
            throw new IllegalArgumentException("--registration '" + f.registration + "' must be auto, none or kubernetes");
        }
        Endpoint advertise = f.advertise != null ? parseEndpoint(f.advertise, "--advertise") : advertised(listen);
        byte[] key = TokenKey.read(keyFile);
        AgentSettings settings = new AgentSettings(node, f.pool, listen, capacity, f.slabSize, key, f.memoryFile, (int) f.maxFrame,
                Protocol.DEFAULT_MAX_SEGMENTS, ioThreads, limits(f));
        return new AgentOptions(settings, metrics, advertise, f.registration, f.drainTimeout, f.transport);
    }

    private static ConnectionLimits limits(Flags f) {
        if (f.maxQueued < (128 << 10) || f.maxQueued > (1L << 30)) {
            throw new IllegalArgumentException("--max-queued " + ByteSize.format(f.maxQueued) + " must be between 128KiB and 1GiB");
        }
        Duration hello = positive(f.helloTimeout, "--hello-timeout");
        Duration partial = positive(f.partialFrameTimeout, "--partial-frame-timeout");
        return new ConnectionLimits((int) f.maxQueued, atLeastOne(f.maxUnauthenticated, "--max-unauthenticated"), hello, partial);
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

    private static int atLeastOne(int value, String what) {
        if (value < 1) throw new IllegalArgumentException(what + " '" + value + "' must be a whole number of at least 1");
        return value;
    }
}
