package dev.farmem.transport.rdma;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/**
 * libdisni on a real RDMA device (Soft-RoCE in the e2e/rdma-vm guest), through DiSNI's own API: rdma_cm connect,
 * memory registration, SEND, RDMA READ and WRITE, a stateful re-post, and an old rkey failing after
 * re-registration ({@code disni.VerbsCheck}). Skipped, saying why, where the guest cannot run.
 */
class LibDisniGuestTest {

    @Test
    void verbsThroughDisniWorkOnSoftRoce() throws Exception {
        RdmaGuest.Run run = RdmaGuest.inDisni("dev.farmem.transport.rdma.disni.VerbsCheck", RdmaGuest.ADDRESS, "7471");
        assertThat(run.exit()).as(run.output()).isZero();
        assertThat(run.output())
                .contains("ok: connected")
                .contains("ok: SEND of 16 bytes received intact")
                .contains("ok: RDMA READ of 4096 bytes matches the region")
                .contains("ok: RDMA WRITE of 4096 bytes landed in the region")
                .contains("ok: a stateful READ call re-posted with a new wr_id")
                .containsPattern("a READ with the old rkey fails: IBV_WC_REM_ACCESS_ERR");
    }
}
