package dev.farmem.bench.transport;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import org.junit.jupiter.api.Test;

/** Reading perftest's result lines, as Debian's perftest prints them in the e2e/rdma-vm guest. */
class PerftestTest {

    @Test
    void readsTheColumnsOfIbReadLatsResultLine() throws IOException {
        String out = """
                ---------------------------------------------------------------------------------------
                 #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec]\s
                 4096    200          101.60         1467.23      132.15   	       154.03      	82.53  		712.70  		1467.23
                ---------------------------------------------------------------------------------------
                """;
        assertArrayEquals(new String[] {"4096", "200", "101.60", "1467.23", "132.15", "154.03", "82.53", "712.70", "1467.23"},
                Perftest.resultLine("ib_read_lat", out));
    }

    @Test
    void readsTheColumnsOfIbReadBwsResultLine() throws IOException {
        String out = """
                 GID: 00:00:00:00:00:00:00:00:00:00:255:255:10:215:00:02
                ---------------------------------------------------------------------------------------
                 #bytes     #iterations    BW peak[MB/sec]    BW average[MB/sec]   MsgRate[Mpps]
                 4096       6912             0.00               26.95  		   0.006899
                ---------------------------------------------------------------------------------------
                """;
        assertArrayEquals(new String[] {"4096", "6912", "0.00", "26.95", "0.006899"}, Perftest.resultLine("ib_read_bw", out));
    }

    @Test
    void outputWithoutAResultLineIsAnErrorThatShowsTheOutput() {
        IOException e = assertThrows(IOException.class,
                () -> Perftest.resultLine("ib_read_lat", "Couldn't connect to 10.215.0.2:18515\n"));
        assertTrue(e.getMessage().contains("ib_read_lat printed no result line") && e.getMessage().contains("Couldn't connect"), e.getMessage());
    }
}
