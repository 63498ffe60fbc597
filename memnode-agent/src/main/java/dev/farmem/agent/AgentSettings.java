package dev.farmem.agent;

import dev.farmem.agent.server.ConnectionLimits;
import dev.farmem.transport.wire.Protocol;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Objects;

/**
 * What a memory-node agent needs to start.
 *
 * @param node         this memory node's name; tokens name the node they are for
 * @param pool         the pool it serves (for logs and registration)
 * @param listen       address of the data port (port 0: any free port)
 * @param capacity     bytes of the region
 * @param slabSize     bytes of one slab
 * @param key          the pool's token key
 * @param backingFile  null for anonymous off-heap memory, else a file to map (e.g. on hugetlbfs)
 * @param maxFrameSize largest frame accepted
 * @param maxSegments  largest WRITEV scatter list
 * @param ioThreads    Netty worker threads
 * @param limits       what one peer may cost: queued responses, unauthenticated connections, timeouts
 */
public record AgentSettings(String node, String pool, InetSocketAddress listen, long capacity, long slabSize, byte[] key,
                            Path backingFile, int maxFrameSize, int maxSegments, int ioThreads,
                            ConnectionLimits limits) {

    public AgentSettings {
        Objects.requireNonNull(node, "node");
        Objects.requireNonNull(pool, "pool");
        Objects.requireNonNull(listen, "listen");
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(limits, "limits");
        if (maxFrameSize < Protocol.MIN_MAX_FRAME_SIZE) {
            throw new IllegalArgumentException("max frame size " + maxFrameSize + " is below the minimum of " + Protocol.MIN_MAX_FRAME_SIZE);
        }
        if (maxSegments < 1) throw new IllegalArgumentException("max segments must be at least 1");
        if (ioThreads < 1) throw new IllegalArgumentException("io threads must be at least 1");
    }

    /** Loopback on a free port, default limits, one I/O thread: what tests and the embedded pool use. */
    public static AgentSettings loopback(String node, long capacity, long slabSize, byte[] key) {
        return new AgentSettings(node, "embedded", new InetSocketAddress("127.0.0.1", 0), capacity, slabSize, key, null,
                Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS, 1, ConnectionLimits.DEFAULT);
    }

    /** The same settings with other connection limits. */
    public AgentSettings withLimits(ConnectionLimits other) {
        return new AgentSettings(node, pool, listen, capacity, slabSize, key, backingFile, maxFrameSize, maxSegments, ioThreads, other);
    }
}
