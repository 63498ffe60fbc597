package dev.farmem.common.token;

/** What a token lets its holder do on the slabs it grants. */
public enum Rights {
    READ(1),
    READ_WRITE(3);

    private final int wire;

    Rights(int wire) {
        this.wire = wire;
    }

    public int wire() {
        return wire;
    }

    public boolean canWrite() {
        return this == READ_WRITE;
    }

    static Rights fromWire(int wire) {
        for (Rights r : values()) if (r.wire == wire) return r;
        throw new IllegalArgumentException("unknown rights " + wire);
    }
}
