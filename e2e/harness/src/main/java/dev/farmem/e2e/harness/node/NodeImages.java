package dev.farmem.e2e.harness.node;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The image archives every node's containerd is loaded with, as a user's nodes would pull them: the project's pause
 * image ({@code images/build-pause}) and farmem's own images, which the Maven build writes with Jib into
 * {@code <module>/target/image/*.tar} when it is given the JRE base ({@code ./farmem images}, {@code ./farmem test}).
 */
public final class NodeImages {
    /** The modules whose build writes an image archive. */
    private static final List<String> IMAGE_MODULES = List.of("memnode-agent", "operator", "client-runtime", "bench", "e2e");

    private final List<Path> archives;

    private NodeImages(List<Path> archives) {
        this.archives = List.copyOf(archives);
    }

    public List<Path> archives() { return archives; }

    /** Finds farmem's image archives in {@code repo} and builds (or takes from the cache) the pause image. */
    public static NodeImages locate(Path repo) {
        List<Path> found = new ArrayList<>();
        found.add(pauseArchive(repo));
        List<String> missing = new ArrayList<>();
        for (String module : IMAGE_MODULES) {
            Path dir = repo.resolve(module).resolve("target/image");
            List<Path> tars = List.of();
            if (Files.isDirectory(dir)) {
                try (Stream<Path> s = Files.list(dir)) {
                    tars = s.filter(p -> p.toString().endsWith(".tar")).sorted().toList();
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot list " + dir, e);
                }
            }
            if (tars.isEmpty()) {
                missing.add(module);
            }
            found.addAll(tars);
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException("no image archive in " + String.join(", ", missing) + " (target/image/*.tar): the nodes "
                    + "run farmem's real images; build them with ./farmem images, or run the suite with ./farmem test "
                    + "(mvn ... -Dfarmem.base.image=$(images/build-base | tail -1))");
        }
        return new NodeImages(found);
    }

    private static Path pauseArchive(Path repo) {
        Path script = repo.resolve("images/build-pause");
        try {
            Process p = new ProcessBuilder(script.toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0 || out.isEmpty()) {
                throw new IllegalStateException(script + " failed (exit " + (p.isAlive() ? "none" : p.exitValue()) + "): " + out);
            }
            String[] lines = out.split("\n");
            return Path.of(lines[lines.length - 1]);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + script, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted building the pause image", e);
        }
    }
}
