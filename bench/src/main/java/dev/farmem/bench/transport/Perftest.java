package dev.farmem.bench.transport;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * perftest's {@code ib_read_lat} and {@code ib_read_bw} (Debian's perftest package) on the same RDMA device as farmem,
 * each run as a server and a client process on one address: the floor that {@code ./farmem bench transport --transport rdma}
 * sets its figures against, round by round. The client is retried until the server listens (a few seconds under
 * emulation), a bounded number of times.
 */
final class Perftest {

    private static final int CONNECT_TRIES = 30;
    private static final long TRY_PAUSE_MILLIS = 500;

    private final String device;
    private final String address;
    private int port = 18_600;

    Perftest(String device, String address) {
        this.device = device;
        this.address = address;
    }

    /** {@code ib_read_lat} of 4 KiB at queue depth 1: {t_typical, 99th percentile} in nanoseconds. */
    double[] readLatency(int bytes, int iterations) throws IOException, InterruptedException {
        String[] columns = run("ib_read_lat", List.of("-s", Integer.toString(bytes), "-n", Integer.toString(iterations)));
        // #bytes #iterations t_min t_max t_typical t_avg t_stdev 99% 99.9%
        return new double[] {Double.parseDouble(columns[4]) * 1e3, Double.parseDouble(columns[7]) * 1e3};
    }

    /** {@code ib_read_bw} of {@code bytes} with {@code depth} READs outstanding for {@code seconds}: operations per second. */
    double readOpsPerSecond(int bytes, int depth, int seconds) throws IOException, InterruptedException {
        String[] columns = run("ib_read_bw", List.of("-s", Integer.toString(bytes), "-t", Integer.toString(depth), "-D", Integer.toString(seconds)));
        // #bytes #iterations BW-peak BW-average MsgRate[Mpps]
        return Double.parseDouble(columns[4]) * 1e6;
    }

    /** Runs one test's server and client; returns the columns of the client's result line. */
    private String[] run(String tool, List<String> args) throws IOException, InterruptedException {
        int p = port++;
        List<String> server = new ArrayList<>(List.of(tool, "-d", device, "-x", "1", "-p", Integer.toString(p)));
        server.addAll(args);
        Process serverProcess = new ProcessBuilder(server).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        try {
            List<String> client = new ArrayList<>(server);
            client.add(address);
            String output = "";
            for (int attempt = 0; attempt < CONNECT_TRIES; attempt++) {
                Process c = new ProcessBuilder(client).redirectErrorStream(true).start();
                output = new String(c.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                if (c.waitFor() == 0) return resultLine(tool, output);
                if (!output.contains("Couldn't connect")) break; // the server is up and the test itself failed
                if (!serverProcess.isAlive()) break;
                Thread.sleep(TRY_PAUSE_MILLIS);
            }
            throw new IOException(String.join(" ", client) + " failed:\n" + output.strip());
        } finally {
            serverProcess.destroy();
            if (!serverProcess.waitFor(5, TimeUnit.SECONDS)) serverProcess.destroyForcibly();
        }
    }

    /** The line after perftest's "#bytes" header, split into columns. */
    static String[] resultLine(String tool, String output) throws IOException {
        String[] lines = output.split("\n");
        for (int i = 0; i + 1 < lines.length; i++) {
            if (lines[i].strip().startsWith("#bytes")) {
                String[] columns = lines[i + 1].strip().split("\\s+");
                if (columns.length >= 5) return columns;
            }
        }
        throw new IOException(tool + " printed no result line:\n" + output.strip());
    }
}
