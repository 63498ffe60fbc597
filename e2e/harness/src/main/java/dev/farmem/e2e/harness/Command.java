package dev.farmem.e2e.harness;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One short command the harness runs to completion (the e2e/bin scripts, openssl, tar, ctr, images/build-pause): its
 * exit code and its output, standard error merged in. Long-lived components are {@link LocalProcess}es instead.
 */
public record Command(int exitCode, String output) {

    /** Runs {@code argv} in {@code dir} (null: this JVM's), killing it after {@code timeout}. */
    public static Command run(Path dir, Duration timeout, List<String> argv) {
        try {
            ProcessBuilder pb = new ProcessBuilder(argv).redirectErrorStream(true);
            if (dir != null) {
                pb.directory(dir.toFile());
            }
            Process p = pb.start();
            p.getOutputStream().close();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                p.destroyForcibly();
                throw new IllegalStateException(String.join(" ", argv) + " did not finish within " + timeout.toSeconds() + " s");
            }
            return new Command(p.exitValue(), out);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + argv.get(0) + " (e2e/setup installs what the harness needs): " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted running " + String.join(" ", argv), e);
        }
    }

    /** This result, or an exception naming {@code what} failed with its exit code and output. */
    public Command check(String what) {
        if (exitCode != 0) {
            throw new IllegalStateException(what + " failed (exit " + exitCode + "): " + output.strip());
        }
        return this;
    }
}
