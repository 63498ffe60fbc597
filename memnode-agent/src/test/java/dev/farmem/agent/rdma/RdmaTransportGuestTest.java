package dev.farmem.agent.rdma;

import dev.farmem.transport.rdma.RdmaGuest;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The transport contract on RDMA, for real: one boot of the e2e/rdma-vm guest (Soft-RoCE) runs
 * {@link RdmaTransportContract} and the agent's limits on RDMA ({@link RdmaAgentHardening}), and every test comes back
 * here as a test of its own ({@link RdmaGuest#junit}). Skipped, saying why, under -Dfarmem.e2e.skip=true (a guest run
 * takes minutes under TCG), without root, or where the guest cannot start.
 */
class RdmaTransportGuestTest {

    @TestFactory
    Stream<DynamicTest> theTransportContractAndTheAgentsLimitsHoldOnRdma() throws Exception {
        return RdmaGuest.junit(1500, RdmaTransportContract.class, RdmaAgentHardening.class);
    }
}
