package dev.farmem.agent.rdma;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.rdma.DisniRuntime;
import dev.farmem.transport.rdma.RdmaProtocol;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * An rdma_cm client that sends what a test tells it to, byte for byte, and reports what the node answered: how the
 * guest tests present no HELLO, an oversized one or a PING first, which the transport never would. Made inside
 * {@link DisniRuntime}'s loader ({@code disni.RawRdmaClient}), reached through this interface.
 */
public interface RawClient extends AutoCloseable {

    /** The node's answer: a message's type (with an ERROR's code and text, a HELLO_OK's grants), or {@link #CLOSED}. */
    record Reply(short type, ErrorCode code, String message, List<RdmaProtocol.Grant> grants) {
        @Override
        public String toString() {
            return type == CLOSED ? "disconnected" : type == RdmaProtocol.ERROR ? "ERROR " + code + ": " + message : "message type " + type;
        }
    }

    /** The node disconnected (or its QP flushed the receives) before sending anything more. */
    short CLOSED = -1;

    static RawClient open() {
        return DisniRuntime.create(RawClient.class, "dev.farmem.agent.rdma.disni.RawRdmaClient", new Class<?>[0]);
    }

    /** Establishes the rdma_cm connection with receives posted, and sends nothing. */
    void connect(String host, int port, long timeoutMillis) throws IOException;

    /** SENDs {@code message}'s remaining bytes (at most {@link RdmaProtocol#MESSAGE_BYTES}) as one message. */
    void send(ByteBuffer message) throws IOException;

    /** The node's next message, or CLOSED; throws when neither came within {@code timeoutMillis}. */
    Reply receive(long timeoutMillis) throws IOException;

    @Override
    void close();
}
