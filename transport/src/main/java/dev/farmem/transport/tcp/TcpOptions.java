package dev.farmem.transport.tcp;

import dev.farmem.transport.wire.Protocol;
import java.time.Duration;

/**
 * Settings of the TCP transport's client side.
 *
 * @param maxFrameSize     largest frame sent or accepted, length field included (the node's own limit also applies)
 * @param maxBytesInFlight bytes of requests and expected responses outstanding per connection before callers wait
 * @param requestTimeout   a request with no response by then fails with {@code TIMEOUT}; also the longest a caller waits for room
 * @param connectTimeout   TCP connect and HELLO
 * @param ioThreads        Netty event-loop threads of the transport
 */
public record TcpOptions(int maxFrameSize, int maxBytesInFlight, Duration requestTimeout, Duration connectTimeout, int ioThreads) {

    public TcpOptions {
        if (maxFrameSize < Protocol.MIN_MAX_FRAME_SIZE) throw new IllegalArgumentException("maxFrameSize must be at least " + Protocol.MIN_MAX_FRAME_SIZE);
        if (maxBytesInFlight < maxFrameSize) throw new IllegalArgumentException("maxBytesInFlight must be at least maxFrameSize (" + maxFrameSize + ")");
        if (requestTimeout.isNegative() || requestTimeout.isZero()) throw new IllegalArgumentException("requestTimeout must be positive");
        if (connectTimeout.isNegative() || connectTimeout.isZero()) throw new IllegalArgumentException("connectTimeout must be positive");
        if (ioThreads < 1) throw new IllegalArgumentException("ioThreads must be at least 1");
    }

    public static TcpOptions defaults() {
        return new TcpOptions(Protocol.DEFAULT_MAX_FRAME_SIZE, 64 << 20, Duration.ofSeconds(10), Duration.ofSeconds(5),
                Math.min(2, Runtime.getRuntime().availableProcessors()));
    }

    public TcpOptions withRequestTimeout(Duration timeout) {
        return new TcpOptions(maxFrameSize, maxBytesInFlight, timeout, connectTimeout, ioThreads);
    }

    public TcpOptions withMaxBytesInFlight(int bytes) {
        return new TcpOptions(maxFrameSize, bytes, requestTimeout, connectTimeout, ioThreads);
    }

    public TcpOptions withIoThreads(int threads) {
        return new TcpOptions(maxFrameSize, maxBytesInFlight, requestTimeout, connectTimeout, threads);
    }
}
