package dev.farmem.client.sidecar;

/**
 * Whether the sidecar recorded in a control file runs, as this process can tell: the one place
 * that decides it, for an application that attaches or waits for an answer and for a sidecar
 * that is about to take the shared files over.
 *
 * <ul>
 * <li>Not {@code RUNNING} in the control header (never started, stopped, or being restarted): no.</li>
 * <li>In this process's PID namespace (one machine, or a pod with {@code shareProcessNamespace})
 *     the recorded process decides, known by pid and start time: a kill is seen at once, and a
 *     live sidecar whose heartbeat is late (a starved or paused JVM) is waited for.</li>
 * <li>Elsewhere the heartbeat alone: fresh within the sidecar timeout the header states.</li>
 * </ul>
 * A caller on a fast path asks without {@code thorough}: a fresh heartbeat then answers without a
 * look at the process. Safe for any thread.
 */
final class SidecarLiveness {

    private static final long MY_PID_NAMESPACE = SharedControl.pidNamespace();

    private final SharedControl control;
    private volatile Seen seen;

    /** The sidecar process of one epoch and pid, as found in this PID namespace (null handle: already gone). */
    private record Seen(long epoch, long pid, ProcessHandle handle) {}

    SidecarLiveness(SharedControl control) {
        this.control = control;
    }

    boolean running(boolean thorough) {
        if (control.state() != SharedControl.STATE_RUNNING) return false;
        boolean fresh = System.currentTimeMillis() - control.heartbeat() <= control.sidecarTimeoutMillis();
        if (!inMyPidNamespace()) return fresh;
        if (fresh && !thorough) return true;
        return processAlive();
    }

    /** How long the sidecar has not beaten its heartbeat, for messages. */
    long silentMillis() {
        return System.currentTimeMillis() - control.heartbeat();
    }

    private boolean inMyPidNamespace() {
        return MY_PID_NAMESPACE != 0 && control.sidecarPidNamespace() == MY_PID_NAMESPACE;
    }

    /** The recorded process, looked up once per epoch and pid (a restarted sidecar publishes both anew). */
    private boolean processAlive() {
        long epoch = control.epoch();
        long pid = control.sidecarPid();
        Seen s = seen;
        if (s == null || s.epoch != epoch || s.pid != pid) {
            long start = control.sidecarStart();
            ProcessHandle h = pid <= 0 ? null
                    : ProcessHandle.of(pid).filter(x -> Math.abs(SharedControl.startMillis(x) - start) < 1_000).orElse(null);
            seen = s = new Seen(epoch, pid, h);
        }
        return s.handle != null && s.handle.isAlive();
    }
}
