package dev.farmem.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.function.IntFunction;

/** The threads of a shadow-copy stress test: each repeats its step, failures are gathered and fail the test together. */
final class StressThreads {
    /** One operation of one thread; {@code rnd} is the thread's own, seeded by its number. */
    interface Step {
        void run(Random rnd) throws Exception;
    }

    private StressThreads() {}

    /** Runs {@code threads} threads, thread {@code t} repeating {@code stepOf.apply(t)} up to {@code maxOps} times or for {@code nanos}. */
    static void run(int threads, int maxOps, long nanos, IntFunction<Step> stepOf) throws InterruptedException {
        List<Throwable> errors = Collections.synchronizedList(new ArrayList<>());
        long until = System.nanoTime() + nanos;
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int me = t;
            Step step = stepOf.apply(me);
            Thread w = new Thread(() -> {
                Random rnd = new Random(me);
                try {
                    for (int op = 0; op < maxOps && System.nanoTime() < until; op++) step.run(rnd);
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            workers.add(w);
            w.start();
        }
        for (Thread w : workers) w.join();
        assertThat(errors).isEmpty();
    }
}
