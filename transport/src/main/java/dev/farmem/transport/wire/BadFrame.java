package dev.farmem.transport.wire;

import dev.farmem.transport.ErrorCode;

/**
 * What {@link FrameDecoder} passes on instead of a frame when the input breaks the protocol.
 * The decoder ignores all later input of that connection; the handler answers and closes.
 */
public record BadFrame(ErrorCode code, long requestId, String message) {}
