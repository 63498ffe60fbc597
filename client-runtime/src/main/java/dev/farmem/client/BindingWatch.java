package dev.farmem.client;

import dev.farmem.common.binding.Binding;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads a binding file (the mounted binding Secret) every {@code pollMillis} on a daemon thread of its own and hands
 * each binding it read to {@code onRead}, which decides what changed. A file that cannot be read for a moment (the
 * kubelet swaps a Secret's files with a symlink; a read between its steps sees none) is skipped, and a failing
 * {@code onRead} is logged and tried again at the next poll. The one place that watches a binding, for the in-process
 * {@link FarMemory} (token renewals) and the sidecar (every change).
 */
public final class BindingWatch implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(BindingWatch.class);

    private final Path path;
    private final Consumer<Binding> onRead;
    private final ScheduledExecutorService thread;

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

    private void poll() {
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
