package dev.farmem.common.token;

/** What a token lets its holder do on the slabs it grants. */
public enum Rights {
    READ(1),
    READ_WRITE(3),
    /**
     * The operator's right to have this node fill the granted slabs from a source agent (the COPY
     * request). Attaching with it makes the slabs a joining replica: emptied, never read until
     * filled, and the lines clients write from then on are tracked so that the copy never
     * overwrites them. Clients never hold it; it grants no READ or WRITEV.
     */
    COPY(4);

    private final int wire;

    Rights(int wire) {
        this.wire = wire;
    }

    public int wire() {
        return wire;
    }

    public boolean canRead() {
        return this == READ || this == READ_WRITE;
    }

    public boolean canWrite() {
        return this == READ_WRITE;
    }

    /** Whether attaching with these rights makes fresh slabs a joining replica (to be filled by a copy), not a claim's zeros. */
    public boolean joins() {
        return this == COPY;
    }

    static Rights fromWire(int wire) {
        for (Rights r : values()) if (r.wire == wire) return r;
        throw new IllegalArgumentException("unknown rights " + wire);
    }
}
