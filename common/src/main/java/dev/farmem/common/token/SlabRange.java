package dev.farmem.common.token;

/** Node slabs {@code [first, first + count)}. */
public record SlabRange(int first, int count) {

    public SlabRange {
        if (first < 0) throw new IllegalArgumentException("slab range starts at negative slab " + first);
        if (count <= 0) throw new IllegalArgumentException("slab range at " + first + " has count " + count + ", must be positive");
        if ((long) first + count > Integer.MAX_VALUE) throw new IllegalArgumentException("slab range at " + first + " overflows");
    }

    public boolean contains(int slab) {
        return slab >= first && slab - first < count;
    }

    /** The first slab after the range. */
    public int end() {
        return first + count;
    }
}
