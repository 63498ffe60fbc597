package dev.farmem.e2e.harness.node;

import dev.farmem.e2e.harness.Command;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The image archives every node's containerd is loaded with, as a user's nodes would pull them: the project's pause
 * image ({@code images/build-pause}) and farmem's own images, which the Maven build writes with Jib into
 * {@code <module>/target/image/*.tar} when it is given the JRE base ({@code ./farmem images}, {@code ./farmem test}).
 */
public final class NodeImages {
    /** The modules whose build writes an image archive. */
    private static final List<String> IMAGE_MODULES = List.of("memnode-agent", "operator", "client-runtime", "bench", "e2e");

    private final Path pause;
    private final List<Path> farmem;
    private Path bundle;

    private NodeImages(Path pause, List<Path> farmem) {
        this.pause = pause;
        this.farmem = List.copyOf(farmem);
    }

    /** Every archive, as found: the pause image's, then farmem's, one per image. */
    public List<Path> archives() {
        List<Path> all = new ArrayList<>(List.of(pause));
        all.addAll(farmem);
        return all;
    }

    /**
     * What a node imports: the pause image and one docker-archive holding all of farmem's images, made once in
     * {@code dir}. The images share the JRE base layer, so a node reads it once instead of once per image.
     */
    public synchronized List<Path> forImport(Path dir) {
        if (bundle == null) {
            bundle = bundle(dir.resolve("farmem-images"));
        }
        return List.of(pause, bundle);
    }

    /** Unpacks every Jib archive over one directory (layers are named by digest), renames each config, merges the manifests. */
    private Path bundle(Path dir) {
        try {
            Files.createDirectories(dir);
            StringBuilder manifest = new StringBuilder("[");
            for (int i = 0; i < farmem.size(); i++) {
                Path archive = farmem.get(i);
                run(dir, "tar", "--skip-old-files", "-xf", archive.toString());
                String m = Files.readString(dir.resolve("manifest.json")).strip();
                Files.delete(dir.resolve("manifest.json"));
                String config = "config-" + i + ".json";
                Files.move(dir.resolve("config.json"), dir.resolve(config));
                if (!m.startsWith("[{\"Config\":\"config.json\"") || !m.endsWith("}]")) {
                    throw new IllegalStateException(archive + " is not a Jib docker-archive with one image (its manifest: " + m + ")");
                }
                manifest.append(i == 0 ? "" : ",").append("{\"Config\":\"").append(config).append('"').append(m, "[{\"Config\":\"config.json\"".length(), m.length() - 1);
            }
            Files.writeString(dir.resolve("manifest.json"), manifest.append("]").toString());
            Path tar = dir.resolveSibling("farmem-images.tar");
            run(dir, "tar", "-cf", tar.toString(), ".");
            return tar;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot bundle farmem's images in " + dir, e);
        }
    }

    private static void run(Path dir, String... command) {
        Command.run(dir, Duration.ofSeconds(300), List.of(command)).check(String.join(" ", command));
    }

    /** Finds farmem's image archives in {@code repo} and builds (or takes from the cache) the pause image. */
    public static NodeImages locate(Path repo) {
        List<Path> found = new ArrayList<>();
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
        return new NodeImages(pauseArchive(repo), found);
    }

    private static Path pauseArchive(Path repo) {
        Path script = repo.resolve("images/build-pause");
        String[] lines = Command.run(null, Duration.ofSeconds(300), List.of(script.toString())).check(script.toString()).output().strip().split("\n");
        return Path.of(lines[lines.length - 1]); // the script prints the archive's path last
    }
}
