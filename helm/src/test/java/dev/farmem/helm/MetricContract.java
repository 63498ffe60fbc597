package dev.farmem.helm;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** The metric names of docs/metrics.md and the series names each exports (histograms as _bucket/_sum/_count). */
final class MetricContract {

    private static final Pattern ROW = Pattern.compile("^\\|\\s*`(farmem_[a-z0-9_]+)`\\s*\\|\\s*([a-z]+)");
    /** A farmem metric or recording-rule name inside a PromQL expression. */
    static final Pattern NAME_IN_QUERY = Pattern.compile("(?<![a-zA-Z0-9_:\"])([a-z_]*:?farmem_[a-zA-Z0-9_:]+)");

    private MetricContract() {}

    /** name -> type (counter, gauge, histogram). */
    static Map<String, String> metrics() {
        Map<String, String> out = new TreeMap<>();
        try {
            for (String line : Files.readAllLines(FarmemChart.ROOT.resolve("docs/metrics.md"))) {
                Matcher m = ROW.matcher(line);
                if (m.find()) {
                    out.put(m.group(1), m.group(2));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (out.isEmpty()) {
            throw new IllegalStateException("docs/metrics.md lists no metric: the contract table format changed?");
        }
        return out;
    }

    /** Every series name a query may use: the metrics, with _bucket, _sum and _count for histograms. */
    static Set<String> seriesNames() {
        Set<String> out = new TreeSet<>();
        metrics().forEach((name, type) -> {
            if (type.equals("histogram")) {
                out.add(name + "_bucket");
                out.add(name + "_sum");
                out.add(name + "_count");
            } else {
                out.add(name);
            }
        });
        return out;
    }

    static Set<String> namesIn(String query) {
        Set<String> out = new TreeSet<>();
        Matcher m = NAME_IN_QUERY.matcher(query);
        while (m.find()) {
            out.add(m.group(1));
        }
        return out;
    }
}
