package dev.farmem.transport.wire;

import io.netty.buffer.ByteBuf;

/**
 * A decoded frame: its op, request id and body. The body is a retained slice of the connection's
 * input; whoever takes the frame releases it exactly once with {@link #release()}.
 */
public record Frame(byte op, long requestId, ByteBuf body) {

    public void release() {
        body.release();
    }
}
