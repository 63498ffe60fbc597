package dev.farmem.client.sidecar;

/** The sidecar process (issue 8). Until it is built, the jar's main says so. */
public final class SidecarMain {

    private SidecarMain() {}

    public static void main(String[] args) {
        System.err.println("sidecar mode is not built yet: use the in-process FarMemory API");
        System.exit(2);
    }
}
