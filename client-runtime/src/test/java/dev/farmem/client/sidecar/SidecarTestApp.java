package dev.farmem.client.sidecar;

import dev.farmem.client.FarBuffer;
import dev.farmem.client.FarMemory;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/** The application processes the two-process tests start. */
public final class SidecarTestApp {

    private SidecarTestApp() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[1]);
        switch (args[0]) {
            case "writer" -> {
                int writer = Integer.parseInt(args[2]);
                int writers = Integer.parseInt(args[3]);
                int ops = Integer.parseInt(args[4]);
                Path shadowOut = Path.of(args[5]);
                try (FarMemory mem = FarMemory.attach(dir, 10_000)) {
                    long[] shadow = ShadowWriter.run(mem.buffer(), mem::flush, writer, writers, ops, 31L * writer);
                    mem.flush();
                    write(shadowOut, shadow);
                }
                System.out.println("done");
            }
            case "pin-and-wait" -> {
                long block = Long.parseLong(args[2]);
                SidecarClient client = SidecarClient.attach(dir, 10_000);
                int frame = client.pin(block);
                client.region().putLong(frame, 8, 0x5EED_5EEDL); // written, dirty, never flushed
                client.markDirty(frame, 8, 8);
                System.out.println("pinned " + frame);
                Thread.sleep(60_000); // the test kills this process long before
            }
            default -> throw new IllegalArgumentException("unknown mode " + args[0]);
        }
    }

    static void write(Path file, long[] values) throws IOException {
        try (DataOutputStream out = new DataOutputStream(Files.newOutputStream(file))) {
            out.writeInt(values.length);
            for (long v : values) out.writeLong(v);
        }
    }

    static long[] read(Path file) throws IOException {
        try (java.io.DataInputStream in = new java.io.DataInputStream(Files.newInputStream(file))) {
            long[] v = new long[in.readInt()];
            for (int i = 0; i < v.length; i++) v[i] = in.readLong();
            return v;
        }
    }

    /**
     * The shadow-copy stress: writer {@code w} of {@code n} owns the longs at indexes i with
     * i % n == w (so writers share every cache line), writes random values, checks reads against
     * its shadow copy, and flushes now and then.
     */
    static final class ShadowWriter {
        static long[] run(FarBuffer buf, Runnable flush, int writer, int writers, int ops, long seed) {
            int longs = (int) (buf.size() / 8);
            long[] shadow = new long[longs];
            SplittableRandom rnd = new SplittableRandom(seed);
            int owned = longs / writers;
            for (int op = 0; op < ops; op++) {
                if (op % (ops / 4 + 1) == ops / 8) flush.run();
                int i = rnd.nextInt(owned) * writers + writer;
                if (rnd.nextInt(3) == 0) {
                    long got = buf.getLong(8L * i);
                    if (got != shadow[i]) {
                        throw new AssertionError("writer " + writer + " read " + got + " at long " + i + " but wrote " + shadow[i]);
                    }
                } else {
                    long v = rnd.nextLong();
                    buf.putLong(8L * i, v);
                    shadow[i] = v;
                }
            }
            for (int i = writer; i < longs; i += writers) {
                long got = buf.getLong(8L * i);
                if (got != shadow[i]) throw new AssertionError("writer " + writer + " finally read " + got + " at long " + i + " but wrote " + shadow[i]);
            }
            return shadow;
        }
    }
}
