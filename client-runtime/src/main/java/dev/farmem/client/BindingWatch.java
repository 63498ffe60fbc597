package dev.farmem.client;

import dev.farmem.common.binding.Binding;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a binding file (the mounted binding Secret) every {@code pollMillis} on a daemon thread of its own and hands
 * each binding it read to {@code onRead}, which decides what changed. A file that cannot be read for a moment (the
 * kubelet swaps a Secret's files with a symlink; a read between its steps sees none) is skipped, and a failing
 * {@code onRead} is logged and tried again at the next poll. The one place that watches a binding, for the in-process
 * {@link FarMemory} and the sidecar alike ({@link dev.farmem.client.engine.CurrentRouter#follow(Path, long)}).
 */
public final class BindingWatch implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BindingWatch.class);

    private final Path path;
    private final Consumer<Binding> onRead;
    private final ScheduledExecutorService thread;
    /** A read asked for by {@link #pollNow} and not yet started: many asks while one waits make one read. */
    private final AtomicBoolean asked = new AtomicBoolean();

    public BindingWatch(Path path, String threadName, long pollMillis, Consumer<Binding> onRead) {
        this.path = path;
        this.onRead = onRead;
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
        thread.scheduleWithFixedDelay(this::poll, pollMillis, pollMillis, TimeUnit.MILLISECONDS);
    }

    /** Reads the file now, not at the next poll (a request found its binding outdated); returns at once. */
    public void pollNow() {
        if (!asked.compareAndSet(false, true)) return;
        try {
            thread.execute(this::poll);
        } catch (RejectedExecutionException closed) {
            // closed: nothing follows the binding any more
        }
    }

    private void poll() {
        asked.set(false);
        try {
            Binding fresh;
            try {
                fresh = Binding.read(path);
            } catch (IllegalArgumentException e) {
                LOG.debug("binding {} cannot be read now, keeping the current one: {}", path, e.getMessage());
                return;
            }
            onRead.accept(fresh);
        } catch (RuntimeException e) { // a scheduled task that throws is never run again
            LOG.warn("checking the binding {} failed: {}", path, e.toString());
        }
    }

    /** Stops reading; a change being handled finishes first. */
    @Override
    public void close() {
        thread.shutdown();
        try {
            thread.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
