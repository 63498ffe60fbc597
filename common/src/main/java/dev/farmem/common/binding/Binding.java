package dev.farmem.common.binding;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.farmem.common.Endpoint;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * Everything a client runtime needs to use a bound claim: where the memory nodes are, a token
 * for each, and which remote slabs hold each slab of the claim. The operator writes it as the
 * key {@value #SECRET_KEY} of the claim's binding Secret; the client opens the same JSON from a
 * mounted file. An embedded pool makes one too.
 *
 * <p>Claim slab {@code s} (far addresses {@code [s*slabSize, (s+1)*slabSize)}) lives on every
 * replica of the extent that covers it, at remote slab {@code replica.firstSlab + (s - extent.firstSlab)}.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Binding(
        int version,
        String pool,
        String claim,
        String claimUid,
        long epoch,
        String transport,
        long sizeBytes,
        long slabSize,
        int blockSize,
        Map<String, Node> nodes,
        List<Extent> extents) {

    public static final String SECRET_KEY = "binding.json";
    public static final int CURRENT_VERSION = 1;

    /** A memory node of the binding: its endpoint and the token that grants this claim's slabs there. */
    public record Node(String endpoint, String token) {}

    /** Claim slabs {@code [firstSlab, firstSlab + count)} and the replicas that hold them. */
    public record Extent(long firstSlab, int count, List<Replica> replicas) {}

    /**
     * A copy of an extent: on {@code node}, starting at that node's slab {@code firstSlab}. A {@code filling} replica
     * joined the claim to replace a lost one and is still being filled by a copy from the others (re-replication):
     * clients write to it like to any replica, and never read it, since its unfilled lines are not the claim's data.
     */
    public record Replica(String node, int firstSlab, @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean filling) {
        public Replica(String node, int firstSlab) {
            this(node, firstSlab, false);
        }
    }

    /** Where one claim slab lives on one replica. */
    public record Location(String node, Endpoint endpoint, int remoteSlab) {}

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    public Binding {
        nodes = nodes == null ? Map.of() : Map.copyOf(new TreeMap<>(nodes));
        extents = extents == null ? List.of() : List.copyOf(extents);
    }

    /** The number of slabs the claim has. */
    public long slabCount() {
        return sizeBytes / slabSize;
    }

    /** The replicas of claim slab {@code claimSlab}, in the order the binding lists them. */
    public List<Location> locate(long claimSlab) {
        for (Extent e : extents) {
            if (claimSlab >= e.firstSlab() && claimSlab < e.firstSlab() + e.count()) {
                List<Location> out = new ArrayList<>(e.replicas().size());
                for (Replica r : e.replicas()) {
                    out.add(new Location(r.node(), Endpoint.parse(nodes.get(r.node()).endpoint()),
                            Math.toIntExact(r.firstSlab() + (claimSlab - e.firstSlab()))));
                }
                return out;
            }
        }
        throw new IndexOutOfBoundsException("claim slab " + claimSlab + " is not in the binding of claim " + claim
                + " (" + slabCount() + " slabs)");
    }

    /**
     * Checks that the binding is whole and consistent: sizes positive and aligned, every claim
     * slab covered exactly once, every replica naming a known node, replicas of one extent on
     * distinct nodes. Returns this binding; throws {@link IllegalArgumentException} saying what is wrong.
     */
    public Binding validate() {
        if (version != CURRENT_VERSION) fail("version " + version + " is not supported (expected " + CURRENT_VERSION + ")");
        if (slabSize <= 0) fail("slabSize must be positive, got " + slabSize);
        if (blockSize <= 0 || Integer.bitCount(blockSize) != 1) fail("blockSize must be a power of two, got " + blockSize);
        if (slabSize % blockSize != 0) fail("slabSize " + slabSize + " is not a multiple of blockSize " + blockSize);
        if (sizeBytes <= 0 || sizeBytes % slabSize != 0) {
            fail("sizeBytes " + sizeBytes + " must be a positive multiple of slabSize " + slabSize);
        }
        for (Map.Entry<String, Node> n : nodes.entrySet()) {
            if (n.getValue() == null || n.getValue().endpoint() == null || n.getValue().token() == null) {
                fail("node " + n.getKey() + " needs an endpoint and a token");
            }
            try {
                Endpoint.parse(n.getValue().endpoint());
            } catch (IllegalArgumentException e) {
                fail("node " + n.getKey() + ": " + e.getMessage());
            }
        }
        List<Extent> sorted = new ArrayList<>(extents);
        sorted.sort((a, b) -> Long.compare(a.firstSlab(), b.firstSlab()));
        long next = 0;
        for (Extent e : sorted) {
            if (e.count() <= 0) fail("extent at slab " + e.firstSlab() + " has count " + e.count());
            if (e.firstSlab() != next) fail("claim slabs from " + next + " to " + e.firstSlab() + " are not covered exactly once");
            if (e.replicas() == null || e.replicas().isEmpty()) fail("extent at slab " + e.firstSlab() + " has no replica");
            long distinct = e.replicas().stream().map(Replica::node).distinct().count();
            if (distinct != e.replicas().size()) fail("extent at slab " + e.firstSlab() + " has two replicas on one node");
            for (Replica r : e.replicas()) {
                if (!nodes.containsKey(r.node())) fail("extent at slab " + e.firstSlab() + " names unknown node " + r.node());
                if (r.firstSlab() < 0) fail("replica on " + r.node() + " has negative slab " + r.firstSlab());
            }
            next = e.firstSlab() + e.count();
        }
        if (next != slabCount()) fail("extents cover " + next + " slabs but the claim has " + slabCount());
        return this;
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write binding as JSON", e);
        }
    }

    /** Parses and validates a binding. */
    public static Binding fromJson(String json) {
        Objects.requireNonNull(json, "binding JSON");
        try {
            return JSON.readValue(json, Binding.class).validate();
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("the binding is not valid JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Reads a binding from a file, or from {@value #SECRET_KEY} inside a directory (a mounted
     * binding Secret).
     */
    public static Binding read(Path path) {
        Path file = Files.isDirectory(path) ? path.resolve(SECRET_KEY) : path;
        try {
            return fromJson(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("binding file " + file + " does not exist: mount the claim's binding Secret there", e);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read binding file " + file + ": " + e.getMessage(), e);
        }
    }

    private static void fail(String why) {
        throw new IllegalArgumentException("invalid binding: " + why);
    }
}
