package dev.farmem.helm;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** The chart in helm/farmem, driven through real Helm (helm-java embeds Helm's Go code). */
final class FarmemChart {

    static final Path MODULE = Path.of("").toAbsolutePath();
    static final Path DIR = MODULE.resolve("farmem");
    static final Path ROOT = MODULE.getParent();
    static final Path MONITORING_VALUES = DIR.resolve("ci/monitoring-values.yaml");
    static final String RELEASE = "farmem";
    static final String NAMESPACE = "farmem-system";

    static final YAMLMapper YAML = new YAMLMapper();
    static final ObjectMapper JSON = new ObjectMapper();

    private FarmemChart() {}

    /** helm template with an optional values file and --set pairs; the manifests in order. */
    static List<JsonNode> template(Path valuesFile, Map<String, Object> sets) {
        TemplateCommand cmd = new Helm(DIR).template().withName(RELEASE).withNamespace(NAMESPACE);
        if (valuesFile != null) {
            cmd = cmd.withValuesFile(valuesFile);
        }
        for (Map.Entry<String, Object> e : sets.entrySet()) {
            cmd = cmd.set(e.getKey(), e.getValue());
        }
        return parseManifests(cmd.call());
    }

    static List<JsonNode> template(Map<String, Object> sets) {
        return template(null, sets);
    }

    /** What helm install prints after the manifests (NOTES.txt), from a client-only dry run: no cluster, so no monitoring CRDs. */
    static String installNotes(Path valuesFile) {
        var cmd = new Helm(DIR).install().withName(RELEASE).withNamespace(NAMESPACE).clientOnly().dryRun();
        if (valuesFile != null) {
            cmd = cmd.withValuesFile(valuesFile);
        }
        String out = cmd.call().getOutput();
        int notes = out.indexOf("NOTES:");
        if (notes < 0) {
            throw new AssertionError("helm install printed no NOTES:\n" + out);
        }
        return out.substring(notes);
    }

    static List<JsonNode> parseManifests(String yaml) {
        List<JsonNode> out = new ArrayList<>();
        try (var it = YAML.readerFor(JsonNode.class).<JsonNode>readValues(yaml)) {
            while (it.hasNext()) {
                JsonNode doc = it.next();
                if (doc != null && !doc.isNull() && !doc.isMissingNode()) {
                    out.add(doc);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("helm template printed YAML that does not parse", e);
        }
        return out;
    }

    /** helm lint --strict of the chart whose values.yaml is the defaults merged with {@code overrides} (helm-java's lint takes no values file). */
    static LintResult lint(Path overrides, Path workDir) throws IOException {
        Path copy = workDir.resolve("farmem");
        try (Stream<Path> files = Files.walk(DIR)) {
            for (Path src : (Iterable<Path>) files::iterator) {
                Path dst = copy.resolve(DIR.relativize(src).toString());
                if (Files.isDirectory(src)) {
                    Files.createDirectories(dst);
                } else {
                    Files.copy(src, dst);
                }
            }
        }
        if (overrides != null) {
            ObjectNode values = (ObjectNode) YAML.readTree(DIR.resolve("values.yaml").toFile());
            merge(values, (ObjectNode) YAML.readTree(overrides.toFile()));
            YAML.writeValue(copy.resolve("values.yaml").toFile(), values);
        }
        return new Helm(copy).lint().strict().call();
    }

    private static void merge(ObjectNode into, ObjectNode from) {
        for (Iterator<Map.Entry<String, JsonNode>> it = from.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode existing = into.get(e.getKey());
            if (existing instanceof ObjectNode o && e.getValue() instanceof ObjectNode f) {
                merge(o, f);
            } else {
                into.set(e.getKey(), e.getValue());
            }
        }
    }

    static List<JsonNode> ofKind(List<JsonNode> manifests, String kind) {
        return manifests.stream().filter(m -> kind.equals(m.path("kind").asText())).toList();
    }

    static JsonNode one(List<JsonNode> manifests, String kind) {
        List<JsonNode> found = ofKind(manifests, kind);
        if (found.size() != 1) {
            throw new AssertionError("expected one " + kind + ", found " + found.size());
        }
        return found.get(0);
    }

    static String appVersion() {
        try {
            return YAML.readTree(DIR.resolve("Chart.yaml").toFile()).path("appVersion").asText();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The operator container's environment as name -> value. */
    static Map<String, String> operatorEnv(List<JsonNode> manifests) {
        JsonNode container = one(manifests, "Deployment").at("/spec/template/spec/containers/0");
        Map<String, String> env = new java.util.LinkedHashMap<>();
        container.path("env").forEach(e -> env.put(e.path("name").asText(), e.path("value").asText(null)));
        return env;
    }
}
