package dev.farmem.transport.rdma;

import java.io.PrintWriter;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * Runs test classes (or single tests, {@code Class#method}) with JUnit's launcher and prints one line per test
 * ({@code GUEST-TEST SUCCESSFUL|FAILED|ABORTED|SKIPPED name: why}): how the RDMA guest runs a module's guest suite
 * ({@link RdmaGuest#junit}) and the host reads its results. Exits 0 when every test passed.
 */
public final class GuestJUnit {

    private GuestJUnit() {}

    public static void main(String[] args) {
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        TestExecutionListener lines = new TestExecutionListener() {
            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (!id.isTest()) return;
                String why = result.getThrowable().map(t -> ": " + t.toString().replace('\n', ' ')).orElse("");
                System.out.println("GUEST-TEST " + result.getStatus() + " " + id.getDisplayName() + why);
                System.out.flush();
            }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                if (id.isTest()) System.out.println("GUEST-TEST SKIPPED " + id.getDisplayName() + ": " + reason);
            }
        };
        Launcher launcher = LauncherFactory.create();
        var request = LauncherDiscoveryRequestBuilder.request();
        // A class, or one test of it as Class#method (to run one test in the guest while working on it).
        for (String c : args) request.selectors(c.contains("#") ? DiscoverySelectors.selectMethod(c) : DiscoverySelectors.selectClass(c));
        launcher.execute(request.build(), summary, lines);
        PrintWriter out = new PrintWriter(System.out, true);
        summary.getSummary().printTo(out);
        summary.getSummary().printFailuresTo(out, 30);
        long failed = summary.getSummary().getTotalFailureCount();
        long run = summary.getSummary().getTestsSucceededCount();
        System.exit(failed == 0 && run > 0 ? 0 : 1);
    }
}
