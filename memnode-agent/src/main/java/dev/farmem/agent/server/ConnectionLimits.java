package dev.farmem.agent.server;

import dev.farmem.transport.wire.Protocol;
import java.time.Duration;
import java.util.Objects;

/**
 * What one peer may cost the agent, whatever it sends or fails to read.
 *
 * @param maxQueuedBytes      response bytes queued for one connection before the agent stops reading
 *                            its requests (Netty's high write-buffer watermark); reading resumes
 *                            once half of that has drained. A connection never holds more than this
 *                            plus one response.
 * @param maxUnauthenticated  connections that have not completed HELLO at one time; more are refused
 * @param helloTimeout        how long a new connection has to present its HELLO
 * @param partialFrameTimeout how long a connection may hold a started, unfinished frame while the
 *                            agent is reading it; then it is closed
 */
public record ConnectionLimits(int maxQueuedBytes, int maxUnauthenticated, Duration helloTimeout, Duration partialFrameTimeout) {

    /** The largest first frame: a HELLO with the longest token. Anything bigger before HELLO is refused. */
    public static final int MAX_HELLO_FRAME = Protocol.HEADER_SIZE + 2 + Protocol.MAX_TOKEN_LENGTH;

    public static final ConnectionLimits DEFAULT = new ConnectionLimits(4 << 20, 256, Duration.ofSeconds(10), Duration.ofSeconds(30));

    public ConnectionLimits {
        Objects.requireNonNull(helloTimeout, "helloTimeout");
        Objects.requireNonNull(partialFrameTimeout, "partialFrameTimeout");
        if (maxQueuedBytes < 2 * 64 * 1024) throw new IllegalArgumentException("max queued bytes per connection " + maxQueuedBytes + " is below 128KiB");
        if (maxUnauthenticated < 1) throw new IllegalArgumentException("max unauthenticated connections must be at least 1, got " + maxUnauthenticated);
        if (helloTimeout.isNegative() || helloTimeout.isZero()) throw new IllegalArgumentException("the HELLO timeout must be positive");
        if (partialFrameTimeout.isNegative() || partialFrameTimeout.isZero()) throw new IllegalArgumentException("the partial-frame timeout must be positive");
    }

    /** Reading resumes once the queue has drained to this. */
    int resumeQueuedBytes() {
        return maxQueuedBytes / 2;
    }
}
