package dev.farmem.e2e.harness.kubelet;

/** A pod that cannot start as written (missing Secret key, unsupported volume...): CreateContainerConfigError. */
final class PodConfigException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    PodConfigException(String message) {
        super(message);
    }
}
