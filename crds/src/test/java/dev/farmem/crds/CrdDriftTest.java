package dev.farmem.crds;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The CRD YAML committed in crds/ and in the chart must be exactly what the generator makes from
 * the types. With -Dfarmem.crds.regenerate=true this test writes the fresh copies instead.
 */
class CrdDriftTest {
    static final String REGENERATE = "mvn -B -ntp -pl crds test -Dtest=CrdDriftTest -Dfarmem.crds.regenerate=true";
    static final Path GENERATED = Paths.get("target/classes/META-INF/fabric8");
    static final List<Path> COPIES = List.of(Paths.get("."), Paths.get("../helm/farmem/crds"));

    @Test
    void committedCrdsMatchTheGeneratedOnes() throws IOException {
        List<Path> generated = yamlIn(GENERATED);
        assertThat(generated).as("generated CRDs in " + GENERATED).hasSize(3);
        boolean regenerate = Boolean.getBoolean("farmem.crds.regenerate");
        List<String> drift = new ArrayList<>();
        for (Path copyDir : COPIES) {
            if (regenerate) {
                Files.createDirectories(copyDir);
                for (Path stale : yamlIn(copyDir)) Files.delete(stale);
                for (Path g : generated) Files.copy(g, copyDir.resolve(g.getFileName()), StandardCopyOption.REPLACE_EXISTING);
            }
            List<String> committed = names(yamlIn(copyDir));
            if (!committed.equals(names(generated))) {
                drift.add(copyDir + " holds " + committed + " but the generator makes " + names(generated));
                continue;
            }
            for (Path g : generated) {
                if (!Files.readString(g).equals(Files.readString(copyDir.resolve(g.getFileName())))) {
                    drift.add(copyDir.resolve(g.getFileName()) + " differs from " + g);
                }
            }
        }
        assertThat(drift).as("the committed CRDs drifted from the types; run `" + REGENERATE + "` to regenerate").isEmpty();
    }

    private static List<Path> yamlIn(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".yml")).sorted().toList();
        }
    }

    private static List<String> names(List<Path> files) {
        return files.stream().map(p -> p.getFileName().toString()).toList();
    }
}
