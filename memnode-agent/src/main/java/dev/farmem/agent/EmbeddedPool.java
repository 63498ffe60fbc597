package dev.farmem.agent;

import dev.farmem.common.Endpoint;
import dev.farmem.common.binding.Binding;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import io.prometheus.client.CollectorRegistry;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Real memory-node agents in this process, on 127.0.0.1 ephemeral ports, with a fresh pool key:
 * for tests, the demo and benchmarks. The allocation is deliberately simple (round-robin, never
 * freed); the operator's allocator is the real one.
 *
 * <pre>{@code
 * try (EmbeddedPool pool = EmbeddedPool.start(3, 256L << 20, 16L << 20)) {
 *     Binding b = pool.bind("demo", 64L << 20, 2, 4096);   // 4 slabs, each on 2 agents
 *     // open b with the client runtime
 * }
 * }</pre>
 */
public final class EmbeddedPool implements AutoCloseable {

    /** One agent of the pool; {@code agent} is null once stopped. */
    public record Agent(int index, String name, Endpoint endpoint, MemoryNodeAgent agent) {}

    private static final Duration TOKEN_LIFETIME = Duration.ofDays(365);

    private final List<MemoryNodeAgent> agents = new ArrayList<>();
    private final List<Endpoint> endpoints = new ArrayList<>();
    /** Each agent's settings, to restart it under the same name on the same port. */
    private final List<AgentSettings> settings = new ArrayList<>();
    /** Each agent's last incarnation, kept when it stops: tokens issued later still name the process that held the data. */
    private final List<Long> incarnations = new ArrayList<>();
    private final int[] nextFreeSlab;
    private final long slabSize;
    private final byte[] key = TokenKey.generate();
    private final TokenIssuer issuer = new TokenIssuer(key);
    /** One epoch counter for the pool: every attach gets a larger epoch than all before it. */
    private final AtomicLong epochs = new AtomicLong();
    private int nextAgent;

    /** "tcp", or "rdma" when the agents also serve RDMA (bindings then say so). */
    private final String transport;

    private EmbeddedPool(int count, long capacityPerAgent, long slabSize) {
        this(count, capacityPerAgent, slabSize, null);
    }

    private EmbeddedPool(int count, long capacityPerAgent, long slabSize, String rdmaHost) {
        if (count < 1) throw new IllegalArgumentException("an embedded pool needs at least one agent, got " + count);
        this.slabSize = slabSize;
        this.nextFreeSlab = new int[count];
        this.transport = rdmaHost == null ? "tcp" : "rdma";
        try {
            for (int i = 0; i < count; i++) {
                AgentSettings s = AgentSettings.loopback("agent-" + i, capacityPerAgent, slabSize, key);
                if (rdmaHost != null) {
                    s = new AgentSettings(s.node(), s.pool(), new InetSocketAddress(rdmaHost, 0), s.capacity(), s.slabSize(), s.key(),
                            s.backingFile(), s.maxFrameSize(), s.maxSegments(), s.ioThreads(), s.limits());
                }
                MemoryNodeAgent a = MemoryNodeAgent.start(s, new CollectorRegistry());
                agents.add(a);
                if (rdmaHost != null) a.serveRdma(rdmaHost);
                endpoints.add(a.endpoint());
                settings.add(s);
                incarnations.add(a.incarnation());
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Starts {@code agents} agents of {@code capacityPerAgent} bytes each, split into slabs of {@code slabSize}. */
    public static EmbeddedPool start(int agents, long capacityPerAgent, long slabSize) {
        return new EmbeddedPool(agents, capacityPerAgent, slabSize);
    }

    /**
     * Like {@link #start}, but the agents listen on {@code host} (an address of an RDMA device) and serve RDMA beside
     * TCP on the same endpoints; bindings name transport {@code rdma}.
     */
    public static EmbeddedPool startRdma(int agents, long capacityPerAgent, long slabSize, String host) {
        return new EmbeddedPool(agents, capacityPerAgent, slabSize, host);
    }

    /**
     * Allocates a claim of {@code sizeBytes} (rounded up to whole slabs), each slab on
     * {@code replication} distinct agents, and returns its binding: a fresh claim uid, a new
     * epoch, a read-write token per agent that grants exactly the claim's slabs there.
     */
    public synchronized Binding bind(String claimName, long sizeBytes, int replication, int blockSize) {
        if (sizeBytes <= 0) throw new IllegalArgumentException("claim size must be positive, got " + sizeBytes);
        if (replication < 1 || replication > agents.size()) {
            throw new IllegalArgumentException("replication " + replication + " needs 1.." + agents.size() + " agents in this pool");
        }
        long slabs = (sizeBytes + slabSize - 1) / slabSize;
        int[] free = nextFreeSlab.clone();
        List<Binding.Extent> extents = new ArrayList<>();
        Map<Integer, List<Integer>> slabsOnAgent = new TreeMap<>();
        int start = nextAgent;
        for (long s = 0; s < slabs; s++) {
            List<Binding.Replica> replicas = new ArrayList<>(replication);
            for (int r = 0; r < replication; r++) {
                int a = (int) ((start + s + r) % agents.size());
                if (agents.get(a) == null) throw new IllegalStateException("agent-" + a + " is stopped: cannot place slabs on it");
                if (free[a] >= agents.get(a).store().slabCount()) {
                    throw new IllegalStateException("agent-" + a + " has no free slab left for claim " + claimName + " (" + slabs + " slabs x "
                            + replication + " replicas asked)");
                }
                int remote = free[a]++;
                replicas.add(new Binding.Replica(name(a), remote));
                slabsOnAgent.computeIfAbsent(a, k -> new ArrayList<>()).add(remote);
            }
            extents.add(new Binding.Extent(s, 1, replicas));
        }
        System.arraycopy(free, 0, nextFreeSlab, 0, free.length);
        nextAgent = (int) ((start + slabs) % agents.size());
        String uid = UUID.randomUUID().toString();
        Map<Integer, List<SlabRange>> granted = new LinkedHashMap<>();
        slabsOnAgent.forEach((a, list) -> granted.put(a, ranges(list)));
        Binding b = new Binding(Binding.CURRENT_VERSION, "embedded", claimName, uid, 0, transport, slabs * slabSize, slabSize, blockSize,
                Map.of(), extents);
        return withTokens(b, granted);
    }

    /**
     * The same claim attached again by another runtime: same uid and slabs, a newer epoch, fresh
     * tokens. Agents then refuse the older binding's tokens ({@code FENCED}).
     */
    public synchronized Binding reattach(Binding old) {
        return withTokens(old, grantsOf(old));
    }

    /**
     * The same attach with its tokens renewed, as the operator renews them through the binding Secret: same claim, slabs
     * and epoch, tokens that expire {@code life} from now.
     */
    public synchronized Binding renew(Binding b, Duration life) {
        return withTokens(b, grantsOf(b), b.epoch(), System.currentTimeMillis() + life.toMillis());
    }

    private Map<Integer, List<SlabRange>> grantsOf(Binding b) {
        Map<Integer, List<Integer>> slabsOnAgent = new TreeMap<>();
        for (Binding.Extent e : b.extents()) {
            for (Binding.Replica r : e.replicas()) {
                for (int i = 0; i < e.count(); i++) slabsOnAgent.computeIfAbsent(index(r.node()), k -> new ArrayList<>()).add(r.firstSlab() + i);
            }
        }
        Map<Integer, List<SlabRange>> granted = new LinkedHashMap<>();
        slabsOnAgent.forEach((a, list) -> granted.put(a, ranges(list)));
        return granted;
    }

    private Binding withTokens(Binding b, Map<Integer, List<SlabRange>> granted) {
        return withTokens(b, granted, epochs.incrementAndGet(), System.currentTimeMillis() + TOKEN_LIFETIME.toMillis());
    }

    private Binding withTokens(Binding b, Map<Integer, List<SlabRange>> granted, long epoch, long expires) {
        Map<String, Binding.Node> nodes = new TreeMap<>();
        granted.forEach((a, ranges) -> nodes.put(name(a), new Binding.Node(endpoints.get(a).toString(),
                issuer.issue(new CapabilityToken(name(a), incarnations.get(a), b.claimUid(), epoch, ranges, Rights.READ_WRITE, expires)))));
        return new Binding(b.version(), b.pool(), b.claim(), b.claimUid(), epoch, b.transport(), b.sizeBytes(), b.slabSize(), b.blockSize(),
                nodes, b.extents()).validate();
    }

    /** Every agent, stopped ones with a null {@code agent}. */
    public synchronized List<Agent> agents() {
        List<Agent> out = new ArrayList<>();
        for (int i = 0; i < agents.size(); i++) out.add(new Agent(i, name(i), endpoints.get(i), agents.get(i)));
        return out;
    }

    /** Stops agent {@code i} at once, as a crashed node: its connections drop. */
    public synchronized void stopAgent(int i) {
        MemoryNodeAgent a = agents.get(i);
        if (a != null) {
            a.close();
            agents.set(i, null);
        }
    }

    /**
     * Starts agent {@code i} again, stopping it first if it runs: the same node name, the same port, a new
     * (empty) region, so a new incarnation. It refuses tokens of the bindings made before ({@code STALE_INCARNATION});
     * bindings made from now on name the new incarnation.
     */
    public synchronized MemoryNodeAgent restartAgent(int i) {
        stopAgent(i);
        AgentSettings s = settings.get(i);
        Endpoint was = endpoints.get(i);
        AgentSettings again = new AgentSettings(s.node(), s.pool(), new InetSocketAddress(was.host(), was.port()), s.capacity(), s.slabSize(),
                s.key(), s.backingFile(), s.maxFrameSize(), s.maxSegments(), s.ioThreads(), s.limits());
        MemoryNodeAgent a = MemoryNodeAgent.start(again, new CollectorRegistry());
        if ("rdma".equals(transport)) a.serveRdma(was.host());
        agents.set(i, a);
        incarnations.set(i, a.incarnation());
        return a;
    }

    /** Agent {@code i}'s incarnation: the running process's, or the last one's when stopped. Tests issue tokens for it. */
    public synchronized long incarnation(int i) {
        return incarnations.get(i);
    }

    /** The pool key, for tests that issue their own tokens. */
    public byte[] key() {
        return key.clone();
    }

    public long slabSize() {
        return slabSize;
    }

    @Override
    public synchronized void close() {
        for (int i = 0; i < agents.size(); i++) stopAgent(i);
    }

    private static String name(int agent) {
        return "agent-" + agent;
    }

    private static int index(String name) {
        if (!name.startsWith("agent-")) throw new IllegalArgumentException("node " + name + " is not an agent of this embedded pool");
        return Integer.parseInt(name.substring("agent-".length()));
    }

    /** Sorted slab numbers as ranges of consecutive slabs. */
    static List<SlabRange> ranges(List<Integer> slabs) {
        List<Integer> sorted = new ArrayList<>(slabs);
        sorted.sort(null);
        List<SlabRange> out = new ArrayList<>();
        int first = sorted.get(0);
        int count = 1;
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i) == first + count) {
                count++;
            } else {
                out.add(new SlabRange(first, count));
                first = sorted.get(i);
                count = 1;
            }
        }
        out.add(new SlabRange(first, count));
        return out;
    }
}
