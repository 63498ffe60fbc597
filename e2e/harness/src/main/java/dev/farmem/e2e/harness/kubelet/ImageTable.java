package dev.farmem.e2e.harness.kubelet;

import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Which built jar runs for which image: the one table the local kubelet uses (defaults in images.properties,
 * overridable with -Dfarmem.e2e.images=FILE or FARMEM_E2E_IMAGES=FILE).
 */
public final class ImageTable {
    /** What an image runs: {@code java -jar jar entryArgs... containerArgs...}. */
    public record Entry(String repository, Path jar, List<String> entryArgs) {}

    private final Map<String, Entry> byName;

    private ImageTable(Map<String, Entry> byName) {
        this.byName = byName;
    }

    public static ImageTable load(Path repoRoot) {
        Properties props = new Properties();
        try (InputStream in = ImageTable.class.getResourceAsStream("/dev/farmem/e2e/harness/images.properties")) {
            props.load(in);
        } catch (IOException | NullPointerException e) {
            throw new IllegalStateException("images.properties is missing from the harness jar", e);
        }
        String override = System.getProperty("farmem.e2e.images", System.getenv("FARMEM_E2E_IMAGES"));
        if (override != null && !override.isBlank()) {
            try (Reader r = Files.newBufferedReader(Path.of(override), StandardCharsets.UTF_8)) {
                props.load(r);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read the image table " + override + " (farmem.e2e.images)", e);
            }
        }
        Map<String, Entry> map = new TreeMap<>();
        for (String name : props.stringPropertyNames()) {
            List<String> parts = Arrays.asList(props.getProperty(name).trim().split("\\s+"));
            map.put(name, new Entry(name, repoRoot.resolve(parts.get(0)), List.copyOf(parts.subList(1, parts.size()))));
        }
        return new ImageTable(map);
    }

    /** The entry whose name is the last path segment of the image's repository (tag and digest ignored). */
    public Optional<Entry> resolve(String image) {
        if (image == null) {
            return Optional.empty();
        }
        String repo = image;
        int at = repo.indexOf('@');
        if (at >= 0) {
            repo = repo.substring(0, at);
        }
        int colon = repo.lastIndexOf(':');
        if (colon > repo.lastIndexOf('/')) {
            repo = repo.substring(0, colon);
        }
        return Optional.ofNullable(byName.get(repo.substring(repo.lastIndexOf('/') + 1)));
    }

    public String knownImages() {
        return String.join(", ", byName.keySet());
    }
}
