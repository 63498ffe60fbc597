package dev.farmem.client.sidecar;

/**
 * The sidecar an application is attached to stopped answering (crashed, restarting or stopped).
 * Hits still work; misses and flushes throw this until the sidecar runs again.
 */
public final class SidecarUnavailableException extends IllegalStateException {

    public SidecarUnavailableException(String message) {
        super(message);
    }
}
