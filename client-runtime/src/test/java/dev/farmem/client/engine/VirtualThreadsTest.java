package dev.farmem.client.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class VirtualThreadsTest {

    @Test
    void aPlatformThreadIsNotVirtualOnAnyJvm() throws Exception {
        assertThat(VirtualThreads.current()).isFalse();
        boolean[] seen = new boolean[1];
        Thread t = new Thread(() -> seen[0] = VirtualThreads.current());
        t.start();
        t.join();
        assertThat(seen[0]).isFalse();
    }

    @Test
    void aWaitForAMissThatIsAlreadyDoneReturnsAtOnce() {
        BlockCache.spinForMiss(CompletableFuture.completedFuture(null)); // no spin, no park
    }
}
