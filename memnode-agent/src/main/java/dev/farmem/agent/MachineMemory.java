package dev.farmem.agent;

import com.sun.management.OperatingSystemMXBean;
import dev.farmem.common.ByteSize;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * How much memory this process can have: the smaller of the machine's total and the memory limit
 * of its cgroup (v2 {@code memory.max}, v1 {@code memory/memory.limit_in_bytes}), so that an agent
 * asked for more than it can ever get refuses to start instead of growing until it is killed.
 *
 * @param osTotal     bytes of physical memory of the machine
 * @param cgroupLimit bytes the cgroup allows, empty when unlimited or unknown
 */
public record MachineMemory(long osTotal, OptionalLong cgroupLimit) {

    private static final long MIB = 1L << 20;
    /** Beside heap and region: metaspace, thread stacks, code cache and the transport's buffers. */
    static final long JVM_OVERHEAD = 64 * MIB;

    /** v1 reports "no limit" as a huge number near Long.MAX_VALUE rounded to pages; anything above this is no limit. */
    private static final long NO_LIMIT = 1L << 60;

    /** Reads this machine: the OS total from the JVM, the limit from /sys/fs/cgroup. */
    public static MachineMemory here() {
        OperatingSystemMXBean os = (OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        return read(Path.of("/sys/fs/cgroup"), os.getTotalMemorySize());
    }

    /** Reads the cgroup limit under {@code cgroupRoot} (v2 first, then v1). */
    static MachineMemory read(Path cgroupRoot, long osTotal) {
        OptionalLong limit = limitIn(cgroupRoot.resolve("memory.max"));
        if (limit.isEmpty()) limit = limitIn(cgroupRoot.resolve("memory").resolve("memory.limit_in_bytes"));
        return new MachineMemory(osTotal, limit);
    }

    private static OptionalLong limitIn(Path file) {
        try {
            String text = Files.readString(file).trim();
            if (text.equals("max")) return OptionalLong.empty();
            long v = Long.parseLong(text);
            return v > 0 && v < NO_LIMIT ? OptionalLong.of(v) : OptionalLong.empty();
        } catch (IOException | NumberFormatException e) {
            return OptionalLong.empty(); // no such controller here, or not readable: no limit known
        }
    }

    /** The most this process can be given. */
    public long available() {
        return cgroupLimit.isPresent() && cgroupLimit.getAsLong() < osTotal ? cgroupLimit.getAsLong() : osTotal;
    }

    /**
     * Throws IllegalStateException, saying what limits it and what to change, when a region of
     * {@code capacity} bytes cannot fit beside a heap of up to {@code heap} bytes and the JVM's own needs. {@code cgroupApplies}
     * is false for a region mapped from a file on hugetlbfs, whose pages the memory cgroup does not count.
     */
    public void check(long capacity, long heap, boolean cgroupApplies) {
        long overhead = heap + JVM_OVERHEAD;
        boolean byCgroup = cgroupApplies && cgroupLimit.isPresent() && cgroupLimit.getAsLong() < osTotal;
        long limit = byCgroup ? cgroupLimit.getAsLong() : osTotal;
        if (capacity + overhead <= limit) return;
        String what = byCgroup ? "this container's memory limit (cgroup) is " + ByteSize.format(limit)
                : "this machine has " + ByteSize.format(limit) + " of memory in all";
        throw new IllegalStateException("--capacity " + ByteSize.format(capacity) + " cannot be given: " + what + ", and the agent needs "
                + ByteSize.format(overhead) + " beside its region (a heap of up to " + ByteSize.format(heap) + ", -Xmx, and "
                + ByteSize.format(JVM_OVERHEAD) + " for the JVM and network buffers). Lower --capacity to at most "
                + ByteSize.format(Math.max(0, limit - overhead) / MIB * MIB) + (byCgroup ? ", or raise the pod's memory limit" : "")
                + (heap > 256 * MIB ? ", or give the JVM a smaller heap (FARMEM_JAVA_OPTS=-Xmx128m)" : ""));
    }
}
