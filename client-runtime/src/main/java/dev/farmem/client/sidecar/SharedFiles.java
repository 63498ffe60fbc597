package dev.farmem.client.sidecar;

import dev.farmem.client.cache.CacheRegion;
import dev.farmem.common.binding.Binding;
import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.locks.LockSupport;

/**
 * The sidecar's shared files in its shared-memory directory: the control file
 * ({@link SharedControl}) and the cache region ({@value #REGION_FILE}), mapped read-write for its
 * group. They are taken over from a sidecar of the same claim and geometry that stopped or died
 * there (the caller then recovers the region, {@link CrashRecovery}), or made fresh. This class
 * also publishes who serves the files and whether it runs.
 *
 * <p>Thread: {@link #open} runs once, on the thread that starts the sidecar, before any other
 * sidecar thread exists; afterwards the fields are fixed and the mappings shared by every thread.
 */
final class SharedFiles {

    static final String REGION_FILE = "cache.region";

    final Path dir;
    final SharedControl control;
    final CacheRegion region;
    /** True if the files were a previous sidecar's: its region must be recovered before use. */
    final boolean reattached;

    private SharedFiles(Path dir, SharedControl control, CacheRegion region, boolean reattached) {
        this.dir = dir;
        this.control = control;
        this.region = region;
        this.reattached = reattached;
    }

    /**
     * Maps the files for {@code binding} with {@code frames} frames, waiting for a previous
     * sidecar that still runs there to stop, and publishes this process as their sidecar with
     * state {@code ABSENT}: applications wait until {@link #running} says otherwise.
     */
    static SharedFiles open(Binding binding, int frames, SidecarOptions options) throws IOException {
        Path dir = options.directory();
        int blockSize = binding.blockSize();
        Files.createDirectories(dir);
        Path controlFile = dir.resolve(SharedControl.FILE);
        Path regionFile = dir.resolve(REGION_FILE);
        SharedControl previous = previous(controlFile, binding, blockSize, frames, options);
        if (previous == null) {
            Files.deleteIfExists(controlFile); // fresh files: a stale mapping of old ones sees nothing new
            Files.deleteIfExists(regionFile);
        }
        MappedByteBuffer regionBuffer = SharedControl.map(regionFile, CacheRegion.bytesNeeded(blockSize, frames));
        SharedControl.shareWithGroup(regionFile);
        boolean reattached = previous != null && CacheRegion.holds(regionBuffer, blockSize, frames);
        CacheRegion region = CacheRegion.over(regionBuffer, blockSize, frames);
        SharedControl control = previous != null ? previous
                : SharedControl.create(SharedControl.map(controlFile, SharedControl.bytesNeeded(options.maxClients(), options.threadsPerClient())),
                        options.maxClients(), options.threadsPerClient());
        SharedControl.shareWithGroup(controlFile);
        control.state(SharedControl.STATE_ABSENT);
        control.geometry(binding.sizeBytes(), binding.slabSize(), blockSize, frames);
        control.claim(binding.claim(), binding.claimUid());
        control.timeouts(options.leaseTimeoutMillis(), options.sidecarTimeoutMillis());
        ProcessHandle self = ProcessHandle.current();
        control.sidecarProcess(self.pid(), SharedControl.pidNamespace(), SharedControl.startMillis(self));
        return new SharedFiles(dir, control, region, reattached);
    }

    /** Publishes a new epoch and a fresh heartbeat, then state {@code RUNNING}; returns the epoch. */
    long running() {
        long epoch = control.nextEpoch();
        control.heartbeat(System.currentTimeMillis());
        control.state(SharedControl.STATE_RUNNING);
        return epoch;
    }

    /** Tells the applications that this sidecar stopped, and why. */
    void stopped(String reason) {
        control.stopReason(reason);
        control.state(SharedControl.STATE_STOPPED);
    }

    /** The control file a previous sidecar of the same claim and geometry left, or null to start fresh. */
    private static SharedControl previous(Path controlFile, Binding binding, int blockSize, int frames, SidecarOptions options)
            throws IOException {
        if (!Files.exists(controlFile) || Files.size(controlFile) < 4096) return null;
        SharedControl old = SharedControl.existing(SharedControl.map(controlFile, Files.size(controlFile)));
        if (old == null) return null;
        waitForPreviousSidecarToStop(old, controlFile, options);
        boolean same = old.claimUid().equals(binding.claimUid() == null ? "" : binding.claimUid())
                && old.blockSize() == blockSize && old.frames() == frames && old.claimSize() == binding.sizeBytes()
                && old.maxClients() == options.maxClients() && old.threadsPerClient() == options.threadsPerClient();
        if (same) return old;
        long now = System.currentTimeMillis();
        for (int c = 0; c < old.maxClients(); c++) {
            if (old.owner(c) != 0 && now - old.clientHeartbeat(c) <= old.leaseTimeoutMillis()) {
                throw new IllegalStateException("the shared memory in " + controlFile.getParent() + " holds the cache of claim "
                        + old.claim() + " with another geometry, and application process " + old.pid(c)
                        + " still uses it: stop its applications or give this sidecar another --shm directory");
            }
        }
        return null;
    }

    /**
     * Two sidecars must never serve one directory. A sidecar of this very process that was not
     * closed (a test's stand-in for a crash) is taken over at once.
     */
    private static void waitForPreviousSidecarToStop(SharedControl old, Path controlFile, SidecarOptions options) {
        long self = ProcessHandle.current().pid();
        SidecarLiveness liveness = new SidecarLiveness(old);
        long deadline = System.currentTimeMillis() + options.sidecarTimeoutMillis() * 2;
        while (old.sidecarPid() != self && liveness.running(true)) {
            if (System.currentTimeMillis() > deadline) {
                throw new IllegalStateException("another farmem sidecar (pid " + old.sidecarPid() + ") serves "
                        + controlFile.getParent() + ": stop it first or use another --shm directory");
            }
            LockSupport.parkNanos(50_000_000);
        }
    }
}
