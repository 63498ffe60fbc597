package dev.farmem.e2e.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/** A child process with its output in a log file, stopped with its whole process tree. */
public final class LocalProcess implements AutoCloseable {
    private final String name;
    private final Process process;
    private final Process watcher;
    private final Path log;

    private LocalProcess(String name, Process process, Process watcher, Path log) {
        this.name = name;
        this.process = process;
        this.watcher = watcher;
        this.log = log;
    }

    /**
     * Starts {@code command} in {@code workDir}; {@code env} replaces the inherited environment when not null
     * (so a pod never sees the test JVM's KUBECONFIG), else the environment is inherited.
     */
    public static LocalProcess start(String name, List<String> command, Path workDir, Map<String, String> env, Path log) {
        try {
            Files.createDirectories(log.getParent());
            ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile())
                    .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
            if (env != null) {
                pb.environment().clear();
                pb.environment().putAll(env);
            }
            Process process = pb.start();
            return new LocalProcess(name, process, watchParent(process.pid()), log);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + name + " (" + command.get(0) + "): " + e.getMessage(), e);
        }
    }

    /**
     * A JVM killed with SIGKILL runs no shutdown hook, and its children would live on: a small watcher ends the
     * child (TERM, then KILL) once this JVM is gone, and ends itself once the child is.
     */
    private static Process watchParent(long child) throws IOException {
        long self = ProcessHandle.current().pid();
        String script = "while kill -0 " + self + " 2>/dev/null && kill -0 " + child + " 2>/dev/null; do sleep 1; done; "
                + "if kill -0 " + child + " 2>/dev/null; then kill -TERM -- " + child + "; sleep 5; kill -KILL " + child + " 2>/dev/null; fi; true";
        return new ProcessBuilder("sh", "-c", script).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    public String name() { return name; }
    public Path log() { return log; }
    public long pid() { return process.pid(); }
    public boolean isAlive() { return process.isAlive(); }
    public Process process() { return process; }

    /** Exit code, or -1 while running. */
    public int exitCode() { return process.isAlive() ? -1 : process.exitValue(); }

    /**
     * Waits until {@code ready} holds (a {@code ready} that throws counts as not yet), failing with the last lines of
     * the log when this process exits first or {@code timeout} passes.
     */
    public void awaitReady(String what, Duration timeout, BooleanSupplier ready) {
        Instant deadline = Instant.now().plus(timeout);
        while (true) {
            if (!isAlive()) {
                throw new IllegalStateException(name + " exited with code " + exitCode() + " while waiting for " + what
                        + "; last lines of " + log + ":\n" + tail(20));
            }
            boolean ok;
            try {
                ok = ready.getAsBoolean();
            } catch (RuntimeException e) {
                ok = false;
            }
            if (ok) {
                return;
            }
            if (Instant.now().isAfter(deadline)) {
                throw new IllegalStateException("timed out after " + timeout.toSeconds() + "s waiting for " + what
                        + "; last lines of " + log + ":\n" + tail(20));
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for " + what, e);
            }
        }
    }

    /** The last lines of the log, for error messages that say why a component did not come up. */
    public String tail(int lines) {
        try {
            List<String> all = Files.readAllLines(log);
            return String.join("\n", all.subList(Math.max(0, all.size() - lines), all.size()));
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }

    /** SIGTERM to the tree, then SIGKILL after {@code grace}; returns once every process of the tree is gone. */
    public void stop(Duration grace) {
        List<ProcessHandle> tree = process.descendants().toList();
        process.destroy();
        tree.forEach(ProcessHandle::destroy);
        try {
            if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        for (ProcessHandle h : tree) {
            if (h.isAlive()) {
                h.destroyForcibly();
                h.onExit().orTimeout(10, TimeUnit.SECONDS).exceptionally(t -> h).join();
            }
        }
        endWatcher();
    }

    private void endWatcher() {
        watcher.destroyForcibly();
        try {
            watcher.waitFor(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Kills the tree at once: what a crash or a lost node looks like to the process. */
    public void kill() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        endWatcher();
    }

    @Override
    public void close() {
        stop(Duration.ofSeconds(5));
    }
}
