package dev.farmem.transport.tcp;

import io.netty.buffer.ByteBuf;
import java.util.List;

/** How a connection's request frames reach its socket. Thread-safe: any thread may send. */
interface FrameWriter {

    /**
     * Sends {@code frame} after every frame sent before it, and releases it; a write that fails fails the connection.
     *
     * @param alone no other request of the connection awaits its reply
     */
    void send(ByteBuf frame, boolean alone);

    /**
     * Sends {@code frames} in order, after every frame sent before them, with as few system calls as the writer can
     * (a thread's gathered requests, see {@link Gathering}), and releases them; the list is left for the caller to clear.
     */
    void sendAll(List<ByteBuf> frames);

    /** Releases the frames not yet written, once the connection failed. */
    void discardQueued();
}
