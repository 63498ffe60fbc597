package dev.farmem.helm;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The container images the Maven build makes with Jib (images only when -Dfarmem.base.image names the JRE base that
 * images/build-base makes; ./farmem images and ./farmem test pass it). Each archive is read as a container runtime
 * reads it: its tag is what the chart names, its user is numeric and not root, its entrypoint starts the class the
 * runnable jar starts, its layers hold that class on the shared JRE base. Without the base (./farmem test --fast) the
 * class is skipped, saying why.
 */
class ImagesTest {
    private static final Pattern IMAGE_MAIN = Pattern.compile("<farmem.image.main>([^<]+)</farmem.image.main>");
    private static final Map<String, Image> images = new HashMap<>();
    /** The file list of each layer by its name in the archive (its digest): the shared base layer is read once. */
    private static final Map<String, Set<String>> LAYER_FILES = new HashMap<>();

    record Image(JsonNode manifest, JsonNode config, List<Set<String>> layers, List<String> layerDigests) {}

    @BeforeAll
    static void readArchives() throws IOException {
        String base = System.getProperty("farmem.base.image", "");
        Assumptions.assumeTrue(!base.isBlank() && !base.startsWith("${"),
                "no images built: the JRE base is not given (-Dfarmem.base.image; ./farmem images builds it, --fast skips it)");
        for (String[] m : MODULES) {
            Path tar = FarmemChart.ROOT.resolve(m[1]).resolve("target/image").resolve(m[0] + ".tar");
            assertThat(tar).as("the image archive of %s (built by jib:buildTar in its package phase)", m[1]).isRegularFile();
            images.put(m[0], read(tar));
        }
    }

    private static final String[][] MODULES = {
            {"farmem-operator", "operator"}, {"farmem-agent", "memnode-agent"}, {"farmem-sidecar", "client-runtime"}, {"farmem-demo", "bench"}};

    @ParameterizedTest(name = "{0}")
    @CsvSource({"farmem-operator,operator", "farmem-agent,agent", "farmem-sidecar,sidecar"})
    void isTaggedAsTheChartNamesIt(String image, String valuesKey) throws IOException {
        JsonNode values = FarmemChart.YAML.readTree(FarmemChart.DIR.resolve("values.yaml").toFile());
        JsonNode chart = FarmemChart.YAML.readTree(FarmemChart.DIR.resolve("Chart.yaml").toFile());
        String expected = values.path("images").path(valuesKey).path("repository").asText() + ":" + chart.path("appVersion").asText();
        assertThat(images.get(image).manifest().path("RepoTags").get(0).asText()).isEqualTo(expected);
    }

    @Test
    void theDemoImageIsTaggedWithTheSameRegistryAndVersion() throws IOException {
        JsonNode chart = FarmemChart.YAML.readTree(FarmemChart.DIR.resolve("Chart.yaml").toFile());
        assertThat(images.get("farmem-demo").manifest().path("RepoTags").get(0).asText())
                .isEqualTo("ghcr.io/farmem/farmem-demo:" + chart.path("appVersion").asText());
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"farmem-operator,operator", "farmem-agent,memnode-agent", "farmem-sidecar,client-runtime", "farmem-demo,bench"})
    void runsItsModulesMainAsANonRootUserWithNoDefaultArguments(String image, String module) throws IOException {
        JsonNode config = images.get(image).config().path("config");
        assertThat(config.path("User").asText()).as("numeric, not root, so runAsNonRoot can verify it").isEqualTo("10001:10001");

        Matcher main = IMAGE_MAIN.matcher(Files.readString(FarmemChart.ROOT.resolve(module).resolve("pom.xml")));
        assertThat(main.find()).isTrue();
        List<String> entrypoint = new ArrayList<>();
        config.path("Entrypoint").forEach(n -> entrypoint.add(n.asText()));
        assertThat(entrypoint).startsWith("java").contains("-XX:MaxRAMPercentage=75").endsWith(main.group(1));
        // a pod's args are the program's own flags: the image adds none
        assertThat(config.path("Cmd").isEmpty()).as("no default arguments").isTrue();

        String mainClassFile = "opt/farmem/classes/" + main.group(1).replace('.', '/') + ".class";
        assertThat(images.get(image).layers()).anySatisfy(files -> assertThat(files).contains(mainClassFile));
        assertThat(images.get(image).layers().get(0)).as("the JRE of the base layer").contains("usr/lib/jvm/java-17-openjdk-amd64/bin/java");
    }

    @Test
    void everyImageSharesOneBaseLayer() {
        Set<String> bases = new HashSet<>();
        images.values().forEach(i -> bases.add(i.layerDigests().get(0)));
        assertThat(bases).hasSize(1);
    }

    @Test
    void theAgentImageRunsUnderRunc() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/sbin/runc")) && Files.isExecutable(Path.of("/usr/bin/skopeo"))
                && Files.isExecutable(Path.of("/usr/bin/umoci")), "runc, skopeo and umoci are not installed (images/build-base installs them)");
        Path dir = Files.createTempDirectory("farmem-image-run");
        try {
            Path tar = FarmemChart.ROOT.resolve("memnode-agent/target/image/farmem-agent.tar");
            run(dir, "skopeo", "copy", "--quiet", "docker-archive:" + tar, "oci:" + dir.resolve("oci") + ":agent");
            run(dir, "umoci", "unpack", "--image", dir.resolve("oci") + ":agent", dir.resolve("bundle").toString());
            // The image's own entrypoint and arguments, plus --help: the agent prints its usage and exits 0.
            Path configFile = dir.resolve("bundle/config.json");
            com.fasterxml.jackson.databind.node.ObjectNode spec = (com.fasterxml.jackson.databind.node.ObjectNode) FarmemChart.JSON.readTree(configFile.toFile());
            ((com.fasterxml.jackson.databind.node.ArrayNode) spec.path("process").path("args")).add("--help");
            ((com.fasterxml.jackson.databind.node.ObjectNode) spec.path("process")).put("terminal", false);
            FarmemChart.JSON.writeValue(configFile.toFile(), spec);
            String out = run(dir.resolve("bundle"), "runc", "run", "farmem-image-test-" + ProcessHandle.current().pid());
            assertThat(out).contains("--capacity").contains("--listen");
        } finally {
            new ProcessBuilder("rm", "-rf", dir.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    private static String run(Path cwd, String... command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).directory(cwd.toFile()).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("%s finished", String.join(" ", command)).isTrue();
        assertThat(p.exitValue()).as("%s exit code; output:%n%s", String.join(" ", command), out).isZero();
        return out;
    }

    /** A docker-archive (what jib:buildTar writes and `ctr images import` loads): manifest, config, gzipped layers. */
    private static Image read(Path tar) throws IOException {
        Map<String, byte[]> entries = new HashMap<>();
        try (TarArchiveInputStream in = new TarArchiveInputStream(Files.newInputStream(tar))) {
            TarArchiveEntry e;
            while ((e = in.getNextEntry()) != null) {
                if (e.isFile()) {
                    entries.put(e.getName(), in.readAllBytes());
                }
            }
        }
        JsonNode manifest = FarmemChart.JSON.readTree(entries.get("manifest.json")).get(0);
        JsonNode config = FarmemChart.JSON.readTree(entries.get(manifest.path("Config").asText()));
        List<Set<String>> layers = new ArrayList<>();
        List<String> digests = new ArrayList<>();
        for (JsonNode layer : manifest.path("Layers")) {
            digests.add(layer.asText());
            layers.add(LAYER_FILES.computeIfAbsent(layer.asText(), d -> files(entries.get(d))));
        }
        return new Image(manifest, config, layers, digests);
    }

    private static Set<String> files(byte[] layer) {
        Set<String> names = new HashSet<>();
        try (InputStream raw = new java.io.ByteArrayInputStream(layer);
             InputStream unzipped = layer.length > 1 && layer[0] == (byte) 0x1f && layer[1] == (byte) 0x8b ? new GZIPInputStream(raw) : raw;
             TarArchiveInputStream in = new TarArchiveInputStream(unzipped)) {
            TarArchiveEntry e;
            while ((e = in.getNextEntry()) != null) {
                String n = e.getName();
                names.add(n.startsWith("./") ? n.substring(2) : n.startsWith("/") ? n.substring(1) : n);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return names;
    }
}
