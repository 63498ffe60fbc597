package dev.farmem.transport.rdma;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.Callable;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Assumptions;

/**
 * libdisni ships in the transport jar and loads from it without an RDMA device: the host has none, so what
 * needs one runs in the RDMA guest ({@link LibDisniGuestTest}).
 */
class DisniRuntimeTest {

    @BeforeAll
    static void libdisniWasBuiltHere() {
        Assumptions.assumeTrue(DisniRuntime.class.getClassLoader().getResource(DisniRuntime.RESOURCE) != null,
                "transport/native/build did not build libdisni on this machine (its output in the Maven log says why)");
    }

    @Test
    void theLibraryLoadsFromTheJarAndDisniAcceptsItsVersionAndLayouts() throws Exception {
        assertThat(DisniRuntime.problem()).as("DiSNI with libdisni loads in this JVM").isNull();
        @SuppressWarnings("unchecked")
        Callable<String> check = DisniRuntime.create(Callable.class, "dev.farmem.transport.rdma.disni.LayoutCheck", new Class<?>[0]);
        // The sizes of rdma-core's structs on x86_64 (DiSNI's built-in guesses are older and smaller: 72, 48).
        assertThat(check.call()).isEqualTo("version=32 sendWr=128 remoteAddrOffset=40 rkeyOffset=48 sge=16 wc=48 loader=farmem-disni");
    }

    @Test
    void disniAndFarmemsDisniPackagesAreDefinedByTheDisniLoaderAndEverythingElseByTheParent() {
        assertThat(DisniRuntime.childFirst("com.ibm.disni.verbs.impl.NativeDispatcher")).isTrue();
        assertThat(DisniRuntime.childFirst("dev.farmem.transport.rdma.disni.QpEndpoint")).isTrue();
        assertThat(DisniRuntime.childFirst("dev.farmem.agent.rdma.disni.RdmaServer")).isTrue();
        assertThat(DisniRuntime.childFirst("dev.farmem.transport.Transport")).isFalse();
        assertThat(DisniRuntime.childFirst("dev.farmem.transport.rdma.DisniRuntime")).isFalse();
        assertThat(DisniRuntime.childFirst("org.slf4j.Logger")).isFalse();
    }

    @Test
    void withoutADeviceTheProbeSaysSo() {
        Assumptions.assumeTrue(!java.nio.file.Files.isDirectory(java.nio.file.Path.of("/sys/class/infiniband")), "this machine has RDMA devices");
        RdmaSupport.Status status = RdmaSupport.probe();
        assertThat(status.available()).isFalse();
        assertThat(status.reason()).contains("no RDMA device");
    }
}
