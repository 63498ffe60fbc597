package dev.farmem.bench.sweep;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.ToDoubleFunction;
import java.util.regex.Pattern;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.VectorGraphicsEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.XYStyler;
import org.knowm.xchart.style.lines.SeriesLines;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The sweep's plots, each written as SVG and PNG (XChart): ops/s, bytes written back per
 * operation, and hit latency percentiles, against the cache size in % of the far memory, one
 * series per tracking granularity.
 */
final class SweepPlots {

    static final String OPS = "ops-per-second";
    static final String WRITTEN_BACK = "written-back-bytes-per-op";
    static final String HIT_LATENCY = "hit-latency";
    private static final int WIDTH = 760;
    private static final int HEIGHT = 460;
    private static final Color LINE = new Color(0x1f77b4);
    private static final Color PAGE = new Color(0xff7f0e);
    private static final Color OTHER = new Color(0x2ca02c);

    private SweepPlots() {}

    /** Writes the three plots into {@code dir} (created if missing); returns the files written. */
    static List<Path> write(Path dir, String subtitle, List<SweepPoint> points) throws IOException {
        System.setProperty("java.awt.headless", "true"); // no display on servers and in CI
        Files.createDirectories(dir);
        List<Path> out = new ArrayList<>();
        boolean allOps = points.stream().allMatch(p -> p.opsPerSec() > 0);
        XYChart ops = chart("Throughput vs cache size", subtitle, "ops/s" + (allOps ? " (log scale)" : ""), allOps); // all-cached is 10x the rest
        for (String t : trackings(points)) series(ops, t + " tracking", points, t, SweepPoint::opsPerSec, SeriesLines.SOLID, SeriesMarkers.CIRCLE);
        out.addAll(save(ops, dir.resolve(OPS)));

        boolean allWrite = points.stream().allMatch(p -> p.writtenBackBytesPerOp() > 0);
        XYChart back = chart("Bytes written back per operation", subtitle, "bytes / op" + (allWrite ? " (log scale)" : ""), allWrite);
        for (String t : trackings(points)) {
            series(back, t + " tracking", points, t, SweepPoint::writtenBackBytesPerOp, SeriesLines.SOLID, SeriesMarkers.CIRCLE);
        }
        out.addAll(save(back, dir.resolve(WRITTEN_BACK)));

        boolean allHit = points.stream().allMatch(p -> p.hitP50() > 0);
        XYChart lat = chart("Hit latency percentiles", subtitle, "us per hit" + (allHit ? " (log scale)" : ""), allHit);
        for (String t : trackings(points)) {
            series(lat, t + " p50", points, t, p -> p.hitP50() / 1e3, SeriesLines.SOLID, SeriesMarkers.CIRCLE);
            series(lat, t + " p90", points, t, p -> p.hitP90() / 1e3, SeriesLines.DASH_DASH, SeriesMarkers.DIAMOND);
            series(lat, t + " p99", points, t, p -> p.hitP99() / 1e3, SeriesLines.DOT_DOT, SeriesMarkers.TRIANGLE_UP);
        }
        out.addAll(save(lat, dir.resolve(HIT_LATENCY)));
        return out;
    }

    private static List<String> trackings(List<SweepPoint> points) {
        return points.stream().map(SweepPoint::tracking).distinct().toList();
    }

    private static XYChart chart(String title, String subtitle, String yTitle, boolean logarithmic) {
        XYChart c = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title + " (" + subtitle + ")")
                .xAxisTitle("cache, % of the far memory").yAxisTitle(yTitle).build();
        XYStyler s = c.getStyler();
        s.setLegendPosition(Styler.LegendPosition.OutsideE);
        s.setChartBackgroundColor(Color.WHITE);
        s.setPlotGridLinesVisible(true);
        s.setYAxisLogarithmic(logarithmic);
        s.setXAxisMin(0.0);
        s.setXAxisMax(100.0);
        s.setMarkerSize(7);
        s.setYAxisDecimalPattern("#,##0.##"); // 100,000 rather than 1E5
        return c;
    }

    /** One colour per tracking granularity, so that a plot of several percentiles reads by colour and by line style. */
    private static void series(XYChart c, String name, List<SweepPoint> points, String tracking, ToDoubleFunction<SweepPoint> y,
                               BasicStroke line, Marker marker) {
        List<SweepPoint> mine = points.stream().filter(p -> p.tracking().equals(tracking)).toList();
        double[] xs = mine.stream().mapToDouble(SweepPoint::cachePercent).toArray();
        double[] ys = mine.stream().mapToDouble(y).toArray();
        Color colour = tracking.equals("line") ? LINE : tracking.equals("page") ? PAGE : OTHER;
        XYSeries s = c.addSeries(name, xs, ys);
        s.setLineColor(colour);
        s.setMarkerColor(colour);
        s.setLineStyle(line);
        s.setMarker(marker);
    }

    private static List<Path> save(XYChart c, Path base) throws IOException {
        if (c.getStyler().isYAxisLogarithmic()) wholeDecades(c);
        VectorGraphicsEncoder.saveVectorGraphic(c, base.toString(), VectorGraphicsEncoder.VectorGraphicsFormat.SVG);
        BitmapEncoder.saveBitmap(c, base.toString(), BitmapEncoder.BitmapFormat.PNG);
        Path svg = Path.of(base + ".svg");
        Files.writeString(svg, tenthsOfAPixel(Files.readString(svg)));
        return List.of(svg, Path.of(base + ".png"));
    }

    /** A log axis labels only the powers of ten inside it: widened to whole decades, it labels at least two. */
    private static void wholeDecades(XYChart c) {
        double min = Double.MAX_VALUE;
        double max = 0;
        for (XYSeries s : c.getSeriesMap().values()) {
            for (double y : s.getYData()) {
                min = Math.min(min, y);
                max = Math.max(max, y);
            }
        }
        if (max <= 0) return;
        c.getStyler().setYAxisMin(Math.pow(10, Math.floor(Math.log10(min))));
        c.getStyler().setYAxisMax(Math.pow(10, Math.ceil(Math.log10(max))));
    }

    private static final Pattern FINE = Pattern.compile("-?\\d+\\.\\d{2,}");

    /**
     * Rounds the SVG's coordinates to a tenth of a pixel: XChart writes text as glyph outlines
     * with six decimals, and an SVG that goes into the docs is half the size this way, looking
     * the same.
     */
    static String tenthsOfAPixel(String svg) {
        return FINE.matcher(svg).replaceAll(m -> String.format(Locale.ROOT, "%.1f", Double.parseDouble(m.group())));
    }
}
