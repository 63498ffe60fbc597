package dev.farmem.transport.tcp;

import io.netty.buffer.ByteBuf;

/** How a connection's request frames reach its socket. Thread-safe: any thread may send. */
interface FrameWriter {

    /** Sends {@code frame} after every frame sent before it, and releases it; a write that fails fails the connection. */
    void send(ByteBuf frame);

    /** Releases the frames not yet written, once the connection failed. */
    void discardQueued();
}
