package dev.farmem.transport.rdma;

import com.ibm.disni.verbs.RdmaEventChannel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;

/**
 * Whether RDMA can be used on this machine: an RDMA device in {@code /sys/class/infiniband} and
 * DiSNI's native library ({@code libdisni}) loadable, proven by opening an rdma_cm event channel
 * through DiSNI. This release has no RDMA data path yet (see {@link dev.farmem.transport.Transport}
 * for how one maps onto verbs); the probe is what {@code transport=auto} and {@code transport=rdma} consult.
 */
public final class RdmaSupport {

    /** The outcome: {@code reason} says what is missing, or what was found. */
    public record Status(boolean available, String reason) {}

    private static final Path DEVICES = Path.of("/sys/class/infiniband");

    private RdmaSupport() {}

    public static Status probe() {
        List<String> devices;
        try (Stream<Path> list = Files.isDirectory(DEVICES) ? Files.list(DEVICES) : Stream.empty()) {
            devices = list.map(p -> p.getFileName().toString()).sorted().toList();
        } catch (IOException e) {
            devices = List.of();
        }
        if (devices.isEmpty()) {
            return new Status(false, "no RDMA device: " + DEVICES + " lists none (no RDMA NIC, or its driver is not loaded)");
        }
        try {
            RdmaEventChannel channel = RdmaEventChannel.createEventChannel();
            channel.close();
        } catch (UnsatisfiedLinkError | NoClassDefFoundError e) {
            return new Status(false, "libdisni is not loadable (" + e.getMessage() + "): install DiSNI's native library and put it on java.library.path");
        } catch (IOException e) {
            return new Status(false, "RDMA device(s) " + devices + " found but rdma_cm cannot be opened: " + e.getMessage());
        }
        return new Status(true, "RDMA device(s) " + devices + " and libdisni available");
    }
}
