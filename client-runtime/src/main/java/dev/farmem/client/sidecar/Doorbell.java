package dev.farmem.client.sidecar;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * An application thread's end of its doorbell to the sidecar ({@link DoorbellServer}): rings
 * after posting a request, and sleeps until the sidecar wakes it. Connects lazily, and again
 * after the sidecar restarted. Used by its thread only; {@link #close} may come from any thread.
 */
final class Doorbell implements AutoCloseable {

    private final Path file;
    private final long token;
    private final int slot;
    private final ByteBuffer one = ByteBuffer.allocateDirect(1);
    private final ByteBuffer sink = ByteBuffer.allocateDirect(64);
    private volatile SocketChannel channel;
    private volatile Selector selector;
    private volatile long wakeups;

    Doorbell(Path dir, long token, int slot) {
        this.file = dir.resolve(DoorbellServer.FILE);
        this.token = token;
        this.slot = slot;
    }

    /** Rings, connecting first if needed; false when the sidecar cannot be reached now. */
    boolean ring() {
        if (channel == null && !connect()) return false;
        one.clear().put(0, (byte) 1);
        try {
            channel.write(one); // 0 bytes written (its buffer is full) is fine: the unread bells wake the sidecar anyway
            return true;
        } catch (IOException e) {
            disconnect();
            return false;
        }
    }

    /**
     * Sleeps until woken or {@code millis} passed; false when there is no connection (the sidecar
     * stopped or restarted: ring again to reconnect).
     */
    boolean await(long millis) {
        if (channel == null) {
            LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(millis));
            return false;
        }
        try {
            selector.select(millis);
            selector.selectedKeys().clear();
            for (;;) {
                sink.clear();
                int n = channel.read(sink);
                if (n < 0) {
                    disconnect();
                    return false;
                }
                if (n > 0) wakeups++; // this thread only
                if (n < sink.capacity()) return true; // drained (saves the read that would say so)
            }
        } catch (IOException | ClosedSelectorException e) { // closed under it by close()
            disconnect();
            return false;
        }
    }

    /** Times the sidecar woke this thread. */
    long wakeups() {
        return wakeups;
    }

    private boolean connect() {
        try {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(file));
            ByteBuffer hello = ByteBuffer.allocate(DoorbellServer.HELLO_BYTES).order(ByteOrder.LITTLE_ENDIAN);
            hello.putLong(token).putInt(slot).putInt(0).flip();
            while (hello.hasRemaining()) channel.write(hello);
            channel.configureBlocking(false);
            selector = Selector.open();
            channel.register(selector, SelectionKey.OP_READ);
            return true;
        } catch (IOException e) {
            disconnect();
            return false;
        }
    }

    private void disconnect() {
        try {
            if (selector != null) selector.close();
            if (channel != null) channel.close();
        } catch (IOException ignored) {
            // closing: nothing left to do
        }
        selector = null;
        channel = null;
    }

    @Override
    public void close() {
        disconnect();
    }
}
