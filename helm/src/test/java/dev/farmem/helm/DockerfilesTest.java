package dev.farmem.helm;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * No container engine runs here, so the Dockerfiles are checked for what can be checked: every file
 * they COPY is a jar the module's Maven build produces, the base is pinned, the user is not root.
 */
class DockerfilesTest {

    private static final Pattern COPY = Pattern.compile("^COPY\\s+(?:--\\S+\\s+)*(\\S+)\\s+(\\S+)\\s*$", Pattern.MULTILINE);
    private static final Pattern SHADED_JAR = Pattern.compile("<outputFile>\\$\\{project\\.build\\.directory}/([^<]+)</outputFile>");

    @ParameterizedTest(name = "{0}/Dockerfile")
    @CsvSource({"operator", "memnode-agent", "client-runtime", "bench"})
    void copiesOnlyWhatTheBuildProducesAndRunsAsANonRootUserOnAPinnedJre(String module) throws IOException {
        String dockerfile = Files.readString(FarmemChart.ROOT.resolve(module).resolve("Dockerfile"));
        String pom = Files.readString(FarmemChart.ROOT.resolve(module).resolve("pom.xml"));

        List<String> produced = new ArrayList<>();
        Matcher jar = SHADED_JAR.matcher(pom);
        while (jar.find()) {
            produced.add(module + "/target/" + jar.group(1));
        }
        List<String> copied = new ArrayList<>();
        Matcher copy = COPY.matcher(dockerfile);
        while (copy.find()) {
            copied.add(copy.group(1));
        }
        assertThat(copied).as("COPY sources of %s/Dockerfile", module).isNotEmpty();
        assertThat(produced).as("jars %s/pom.xml builds", module).containsAll(copied);

        Matcher from = Pattern.compile("^FROM\\s+(\\S+)", Pattern.MULTILINE).matcher(dockerfile);
        assertThat(from.find()).isTrue();
        String base = from.group(1);
        assertThat(base).matches("[^:@]+:\\d[^:]*-jre[^:]*").doesNotContain(":latest");

        Matcher user = Pattern.compile("^USER\\s+(\\S+)", Pattern.MULTILINE).matcher(dockerfile);
        String lastUser = null;
        while (user.find()) {
            lastUser = user.group(1);
        }
        assertThat(lastUser).as("USER of %s/Dockerfile", module).isNotNull().matches("[1-9]\\d*(:[1-9]\\d*)?");

        String jarInImage = "/opt/farmem/" + Path.of(copied.get(0)).getFileName();
        assertThat(dockerfile).contains("\"-jar\", \"" + jarInImage + "\"");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"farmem-operator,operator", "farmem-agent,memnode-agent", "farmem-sidecar,client-runtime", "farmem-demo,bench"})
    void eachImageRunsWhatTheTestBedsKubeletRunsForIt(String image, String module) throws IOException {
        // The local kubelet runs "java -jar <jar> <fixed args>" for an image: the image must run the same.
        Properties table = new Properties();
        try (var in = Files.newBufferedReader(FarmemChart.ROOT.resolve("e2e/harness/src/main/resources/dev/farmem/e2e/harness/images.properties"))) {
            table.load(in);
        }
        List<String> kubelet = List.of(table.getProperty(image).trim().split("\\s+"));
        String dockerfile = Files.readString(FarmemChart.ROOT.resolve(module).resolve("Dockerfile"));
        Matcher entry = Pattern.compile("^ENTRYPOINT \\[(.*)]$", Pattern.MULTILINE).matcher(dockerfile);
        assertThat(entry.find()).as("%s/Dockerfile has an exec-form ENTRYPOINT", module).isTrue();
        List<String> args = Pattern.compile("\"([^\"]*)\"").matcher(entry.group(1)).results().map(r -> r.group(1)).toList();
        List<String> afterJar = args.subList(args.indexOf("-jar") + 2, args.size());

        assertThat(Path.of(args.get(args.indexOf("-jar") + 1)).getFileName()).isEqualTo(Path.of(kubelet.get(0)).getFileName());
        assertThat(kubelet.get(0)).startsWith(module + "/target/");
        assertThat(afterJar).isEqualTo(kubelet.subList(1, kubelet.size()));
        assertThat(dockerfile).contains("-t ghcr.io/farmem/" + image + ":");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"operator,farmem-operator", "agent,farmem-agent", "sidecar,farmem-sidecar"})
    void theChartsImageRepositoriesAreTheOnesTheDockerfilesDocument(String component, String image) throws IOException {
        Map<?, ?> images = FarmemChart.YAML.readValue(FarmemChart.DIR.resolve("values.yaml").toFile(), Map.class);
        Map<?, ?> img = (Map<?, ?>) ((Map<?, ?>) images.get("images")).get(component);
        assertThat(img.get("repository")).isEqualTo("ghcr.io/farmem/" + image);
        String module = switch (component) {
            case "operator" -> "operator";
            case "agent" -> "memnode-agent";
            default -> "client-runtime";
        };
        assertThat(Files.readString(FarmemChart.ROOT.resolve(module).resolve("Dockerfile"))).contains("-t ghcr.io/farmem/" + image + ":");
    }
}
