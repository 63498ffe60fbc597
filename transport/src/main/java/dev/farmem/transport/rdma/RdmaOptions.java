package dev.farmem.transport.rdma;

import java.time.Duration;

/**
 * Settings of the RDMA transport's client side.
 *
 * @param depth          requests in flight per connection (one staging slot each); the send queue holds
 *                       {@code depth x maxSegments} work requests, so this is the in-flight bound the SPI asks for
 * @param slotBytes      largest READ, and largest WRITEV payload, in one request: each slot's registered staging buffer
 * @param maxSegments    largest WRITEV scatter list: one RDMA WRITE work request per segment
 * @param requestTimeout a request with no completion by then fails with {@code TIMEOUT} and closes the connection
 *                       (its staging slot cannot be reused while the NIC may still write it); also the longest a caller
 *                       waits for a free slot
 * @param connectTimeout rdma_cm address and route resolution, connection, and HELLO
 * @param spinNanos      how long the completion thread polls after the last completion before it sleeps on the
 *                       completion channel: a wake-up costs more than an RDMA READ
 */
public record RdmaOptions(int depth, int slotBytes, int maxSegments, Duration requestTimeout, Duration connectTimeout, long spinNanos) {

    public RdmaOptions {
        if (depth < 1 || depth > 1024) throw new IllegalArgumentException("depth " + depth + " must be between 1 and 1024");
        if (slotBytes < 4096 || slotBytes > (16 << 20)) throw new IllegalArgumentException("slotBytes " + slotBytes + " must be between 4KiB and 16MiB");
        if (maxSegments < 1 || maxSegments > 1024) throw new IllegalArgumentException("maxSegments " + maxSegments + " must be between 1 and 1024");
        if (requestTimeout.isNegative() || requestTimeout.isZero()) throw new IllegalArgumentException("requestTimeout must be positive");
        if (connectTimeout.isNegative() || connectTimeout.isZero()) throw new IllegalArgumentException("connectTimeout must be positive");
        if (spinNanos < 0) throw new IllegalArgumentException("spinNanos must not be negative");
    }

    /** 64 requests of up to 64 KiB in flight, WRITEVs of up to 64 segments (a 4 KiB block has at most 32 runs of lines). */
    public static RdmaOptions defaults() {
        return new RdmaOptions(64, 64 << 10, 64, Duration.ofSeconds(10), Duration.ofSeconds(10), 200_000);
    }

    public RdmaOptions withRequestTimeout(Duration timeout) {
        return new RdmaOptions(depth, slotBytes, maxSegments, timeout, connectTimeout, spinNanos);
    }

    public RdmaOptions withDepth(int newDepth) {
        return new RdmaOptions(newDepth, slotBytes, maxSegments, requestTimeout, connectTimeout, spinNanos);
    }

    /** Send queue work requests one connection needs: every slot's longest chain, plus the message sends. */
    public int sendQueueDepth() {
        return depth * maxSegments + RdmaProtocol.SEND_BUFFERS;
    }
}
