package dev.farmem.client.rdma;

import dev.farmem.transport.rdma.RdmaGuest;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The client contract on RDMA, for real: one boot of the e2e/rdma-vm guest (Soft-RoCE) runs
 * {@link RdmaClientContract} and every contract test comes back here as a test of its own. Skipped, saying why,
 * under -Dfarmem.e2e.skip=true (a guest run takes minutes under TCG), without root, or where the guest cannot start.
 */
class RdmaClientGuestTest {

    @TestFactory
    Stream<DynamicTest> theClientContractHoldsOnRdma() throws Exception {
        return RdmaGuest.junit(900, RdmaClientContract.class);
    }
}
