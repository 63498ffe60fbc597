package dev.farmem.bench.workload;

import dev.farmem.client.FarBuffer;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Collectors;

/** The workloads of docs/benchmarks.md. Each makes per-thread operation streams that allocate nothing per operation. */
public enum Workload {

    UNIFORM("uniform", "random 8-byte reads (50 %) and updates (50 %) over the whole far memory"),
    ZIPF("zipf", "YCSB-A-like: 50 % reads of a 1 KiB record, 50 % updates of one 100-byte field, Zipf 0.99 over the records"),
    SPARSE_WRITE("sparse-write", "75 % updates that write 8 bytes into each of 1-8 random lines of a random 4 KiB block, 25 % 8-byte reads"),
    SCAN("scan", "sequential 256-byte reads over the whole far memory (prefetch at work)");

    static final int RECORD = 1024;
    static final int FIELD = 100;
    static final int FIELDS = 10;

    private final String id;
    private final String description;

    Workload(String id, String description) {
        this.id = id;
        this.description = description;
    }

    public String id() {
        return id;
    }

    public String description() {
        return description;
    }

    public static Workload parse(String text) {
        for (Workload w : values()) if (w.id.equals(text.toLowerCase(Locale.ROOT))) return w;
        throw new IllegalArgumentException("unknown workload '" + text + "': choose one of "
                + Arrays.stream(values()).map(Workload::id).collect(Collectors.joining(", ")));
    }

    /** One operation at a time over a buffer. */
    public interface Stream {
        void step(FarBuffer buf);
    }

    /** The stream of thread {@code thread} of {@code threads}, over {@code size} bytes; a shared Zipf table is passed in. */
    public Stream stream(long size, long seed, int thread, int threads, ZipfGenerator zipf) {
        SplittableRandom rnd = new SplittableRandom(seed * 1_000_003L + thread);
        switch (this) {
            case UNIFORM: {
                long words = size >>> 3;
                return buf -> {
                    long at = (rnd.nextLong(words)) << 3;
                    if (rnd.nextBoolean()) buf.getLong(at); else buf.putLong(at, rnd.nextLong());
                };
            }
            case ZIPF: {
                byte[] record = new byte[RECORD];
                byte[] field = new byte[FIELD];
                rnd.nextBytes(field);
                return buf -> {
                    long at = zipf.next(rnd) * RECORD;
                    if (rnd.nextBoolean()) {
                        buf.get(at, record);
                    } else {
                        field[0]++;
                        buf.put(at + 24 + (long) rnd.nextInt(FIELDS) * FIELD, field);
                    }
                };
            }
            case SPARSE_WRITE: {
                long blocks = size >>> 12;
                return buf -> {
                    long block = rnd.nextLong(blocks) << 12;
                    if (rnd.nextInt(4) == 0) {
                        buf.getLong(block + ((long) rnd.nextInt(512) << 3));
                        return;
                    }
                    int lines = 1 + rnd.nextInt(8);
                    for (int i = 0; i < lines; i++) buf.putLong(block + ((long) rnd.nextInt(64) << 6) + ((long) rnd.nextInt(8) << 3), rnd.nextLong());
                };
            }
            case SCAN: {
                byte[] chunk = new byte[256];
                long span = size / threads & -256L;
                long[] cursor = {0};
                long start = span * thread;
                return buf -> {
                    buf.get(start + cursor[0], chunk);
                    cursor[0] = cursor[0] + 256 >= span ? 0 : cursor[0] + 256;
                };
            }
            default:
                throw new AssertionError(this);
        }
    }

    /** The Zipf table this workload needs over {@code size} bytes, or null. */
    public ZipfGenerator zipfFor(long size) {
        return this == ZIPF ? new ZipfGenerator(size / RECORD, 0.99) : null;
    }
}
