package dev.farmem.transport.rdma;

import dev.farmem.transport.Transport;

/**
 * Opens the RDMA transport: DiSNI's verbs and rdma_cm through farmem's libdisni (see {@link DisniRuntime}). The
 * operations map onto verbs as the {@link Transport} javadoc says; {@code disni.RdmaConnection} has the detail.
 */
public final class RdmaTransport {

    private RdmaTransport() {}

    /** Throws {@link IllegalStateException} saying what is missing when RDMA cannot be used in this JVM. */
    public static Transport open(RdmaOptions options) {
        return DisniRuntime.create(Transport.class, "dev.farmem.transport.rdma.disni.DisniTransport", new Class<?>[] {RdmaOptions.class}, options);
    }
}
