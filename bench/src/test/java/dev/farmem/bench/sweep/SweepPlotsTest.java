package dev.farmem.bench.sweep;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.HdrHistogram.Histogram;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SweepPlotsTest {

    @Test
    void hitPercentilesAreTheFastestOperationsInTheShareOfTheHitRatio() {
        Histogram ops = new Histogram(3);
        ops.recordValueWithCount(200, 900); // hits
        ops.recordValueWithCount(50_000, 100); // misses, slower than every hit
        assertThat(SweepPoint.hitPercentile(ops, 0.9, 99)).as("the hits' p99 is no miss").isBetween(199L, 201L);
        assertThat(SweepPoint.hitPercentile(ops, 0.9, 50)).isBetween(199L, 201L);
        assertThat(SweepPoint.hitPercentile(ops, 1.0, 99)).as("at a hit ratio of 1 every operation is a hit").isGreaterThan(49_000L);
        assertThat(SweepPoint.hitPercentile(ops, 0, 50)).as("no hits, no hit latency").isZero();
    }

    @Test
    void svgCoordinatesAreKeptToATenthOfAPixelAndNothingElseChanges() {
        assertThat(SweepPlots.tenthsOfAPixel("<path d=\"M1.265625,-8.75 L6.875,-7 Q3.5,2\"/> version=\"1.1\" rgb(255,0,0)"))
                .isEqualTo("<path d=\"M1.3,-8.8 L6.9,-7 Q3.5,2\"/> version=\"1.1\" rgb(255,0,0)");
    }

    @Test
    void writesEachPlotAsSvgAndPng(@TempDir Path dir) throws Exception {
        List<SweepPoint> points = new ArrayList<>();
        for (int pct = 10; pct <= 100; pct += 45) {
            points.add(new SweepPoint("line", pct, 1000 * pct, 150, pct / 100.0, 300, 900, 2_000));
            points.add(new SweepPoint("page", pct, 600 * pct, 4096, pct / 100.0, 320, 950, 2_500));
        }
        List<Path> written = SweepPlots.write(dir.resolve("out"), "zipf, 64MiB, bare loopback", points);

        assertThat(written).hasSize(6);
        for (String name : List.of(SweepPlots.OPS, SweepPlots.WRITTEN_BACK, SweepPlots.HIT_LATENCY)) {
            String svg = Files.readString(dir.resolve("out").resolve(name + ".svg"));
            assertThat(svg).as("a vector plot with a series of each tracking, in their colours (text is drawn as outlines)")
                    .contains("<svg").contains("rgb(31,119,180)").contains("rgb(255,127,14)");
            byte[] png = Files.readAllBytes(dir.resolve("out").resolve(name + ".png"));
            assertThat(png).startsWith((byte) 0x89, (byte) 'P', (byte) 'N', (byte) 'G');
        }
    }
}
