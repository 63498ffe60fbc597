package dev.farmem.client.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ThreadLocalCounterTest {

    @Test
    void countsEveryIncrementOfEveryThreadIncludingThreadsThatEnded() throws Exception {
        ThreadLocalCounter c = new ThreadLocalCounter();
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            Thread th = new Thread(() -> {
                for (int i = 0; i < 100_000; i++) c.increment();
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) th.join();
        c.increment();
        assertThat(c.sum()).isEqualTo(400_001);
    }

    @Test
    void aThreadsCellIsItsTranslationEntryAndHitsCountedThereAreSummed() throws Exception {
        ThreadLocalCounter c = new ThreadLocalCounter();
        assertThat(c.mine()).isSameAs(c.mine());
        c.mine().countHit(); // as the hit path counts, with the entry in hand
        Thread other = new Thread(() -> c.mine().countHit());
        other.start();
        other.join();
        assertThat(c.sum()).isEqualTo(2);
        assertThat(new ThreadLocalCounter().mine()).as("another counter (another region): another entry").isNotSameAs(c.mine());
    }

    @Test
    void addsCountsTakenInBulkToTheSameSum() throws Exception {
        ThreadLocalCounter c = new ThreadLocalCounter();
        c.increment();
        Thread taker = new Thread(() -> c.add(1_000)); // a sidecar taking an application's published hits
        taker.start();
        taker.join();
        c.add(41);
        assertThat(c.sum()).isEqualTo(1_042);
    }
}
