package dev.farmem.transport.rdma;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.stream.Stream;

/**
 * Whether RDMA can be used on this machine: an RDMA device in {@code /sys/class/infiniband} and
 * farmem's {@code libdisni} loadable from the transport jar ({@link DisniRuntime}), proven by opening an rdma_cm
 * event channel through DiSNI. The probe is what {@code transport=auto} and {@code transport=rdma} consult.
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
        String runtime = DisniRuntime.problem();
        if (runtime != null) return new Status(false, "RDMA device(s) " + devices + " found but " + runtime);
        Object cm;
        try {
            cm = DisniRuntime.create(Callable.class, "dev.farmem.transport.rdma.disni.CmProbe", new Class<?>[0]).call();
        } catch (Exception e) {
            cm = e.toString();
        }
        if (cm != null) return new Status(false, "RDMA device(s) " + devices + " found but " + cm);
        return new Status(true, "RDMA device(s) " + devices + " and libdisni available");
    }
}
