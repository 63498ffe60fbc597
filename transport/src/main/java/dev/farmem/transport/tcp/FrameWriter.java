package dev.farmem.transport.tcp;

import io.netty.buffer.ByteBuf;

/** How a connection's request frames reach its socket. Thread-safe: any thread may send. */
interface FrameWriter {

    /**
     * Sends {@code frame} after every frame sent before it, and releases it; a write that fails fails the connection.
     *
     * @param alone no other request of the connection awaits its reply
     */
    void send(ByteBuf frame, boolean alone);

    /** Releases the frames not yet written, once the connection failed. */
    void discardQueued();
}
