package dev.farmem.transport;

/** A request or connection failed; {@link #code()} says why. */
public class TransportException extends RuntimeException {

    private final ErrorCode code;

    public TransportException(ErrorCode code, String message) {
        super(code + ": " + message);
        this.code = code;
    }

    public TransportException(ErrorCode code, String message, Throwable cause) {
        super(code + ": " + message, cause);
        this.code = code;
    }

    public ErrorCode code() {
        return code;
    }
}
