package dev.farmem.transport.wire;

import dev.farmem.transport.ErrorCode;

/**
 * What {@link FrameDecoder} passes on instead of a frame when the input breaks the protocol.
 * The decoder ignores all later input of that connection; the handler answers and closes.
 *
 * @param op the op of the broken frame, or {@link #NO_OP} when the input broke before an op was read
 *           (bad preamble, bad length field)
 */
public record BadFrame(long requestId, byte op, ErrorCode code, String message) implements WireFrame {

    public static final byte NO_OP = 0;
}
