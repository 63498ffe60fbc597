package dev.farmem.client.sidecar;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/**
 * The one rule for "does the sidecar run", on a control area in memory: the state first, then in
 * this PID namespace the recorded process, elsewhere the heartbeat.
 */
class SidecarLivenessTest {

    private static final long TIMEOUT = 5_000;
    private static final long LONG_AGO = 0; // a heartbeat at the epoch is stale under any timeout

    private final SharedControl control = SharedControl.create(
            ByteBuffer.allocateDirect((int) SharedControl.bytesNeeded(1, 1)).order(ByteOrder.LITTLE_ENDIAN), 1, 1);
    private final SidecarLiveness liveness = new SidecarLiveness(control);

    private void sidecarIs(long pid, long pidNamespace, long startMillis, long heartbeat) {
        control.timeouts(TIMEOUT, TIMEOUT);
        control.sidecarProcess(pid, pidNamespace, startMillis);
        control.nextEpoch();
        control.heartbeat(heartbeat);
        control.state(SharedControl.STATE_RUNNING);
    }

    private static long now() {
        return System.currentTimeMillis();
    }

    @Test
    void aSidecarThatIsNotRunningInTheHeaderIsNotRunningWhateverElseItSays() {
        ProcessHandle me = ProcessHandle.current();
        sidecarIs(me.pid(), SharedControl.pidNamespace(), SharedControl.startMillis(me), now());
        control.state(SharedControl.STATE_STOPPED);
        assertThat(liveness.running(false)).isFalse();
        assertThat(liveness.running(true)).isFalse();
        control.state(SharedControl.STATE_ABSENT);
        assertThat(liveness.running(true)).isFalse();
    }

    @Test
    void inThisPidNamespaceALiveProcessRunsHoweverLateItsHeartbeatAndADeadOneIsSeenAtOnce() throws Exception {
        ProcessHandle me = ProcessHandle.current();
        long ns = SharedControl.pidNamespace();
        org.junit.jupiter.api.Assumptions.assumeTrue(ns != 0, "no /proc/self/ns/pid here");
        sidecarIs(me.pid(), ns, SharedControl.startMillis(me), LONG_AGO);
        assertThat(liveness.running(false)).as("late heartbeat, live process").isTrue();
        assertThat(liveness.running(true)).isTrue();

        Process gone = new ProcessBuilder("true").start();
        ProcessHandle h = gone.toHandle();
        long start = SharedControl.startMillis(h);
        gone.waitFor();
        sidecarIs(h.pid(), ns, start, now());
        assertThat(liveness.running(false)).as("fresh heartbeat, quick answer").isTrue();
        assertThat(liveness.running(true)).as("a thorough look finds the process gone").isFalse();

        sidecarIs(me.pid(), ns, SharedControl.startMillis(me) - 60_000, now());
        assertThat(liveness.running(true)).as("same pid, another start time: a reused pid, not the sidecar").isFalse();
    }

    @Test
    void inAnotherPidNamespaceTheHeartbeatAloneDecides() {
        ProcessHandle me = ProcessHandle.current();
        long otherNamespace = SharedControl.pidNamespace() + 1;
        sidecarIs(me.pid(), otherNamespace, SharedControl.startMillis(me), now());
        assertThat(liveness.running(true)).isTrue();
        sidecarIs(me.pid(), otherNamespace, SharedControl.startMillis(me), LONG_AGO);
        assertThat(liveness.running(false)).isFalse();
        assertThat(liveness.running(true)).as("this process's pid means nothing in another namespace").isFalse();
    }
}
