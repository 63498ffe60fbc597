package dev.farmem.common;

import java.util.Objects;

/** Where a memory node listens: {@code host:port}, as it appears in a binding and in MemoryNode status. */
public record Endpoint(String host, int port) {

    public Endpoint {
        Objects.requireNonNull(host, "host");
        if (host.isBlank()) throw new IllegalArgumentException("endpoint host is empty");
        if (port < 1 || port > 65535) throw new IllegalArgumentException("endpoint port " + port + " is not in 1..65535");
    }

    /** Parses {@code host:port} (IPv6 as {@code [::1]:7000}). */
    public static Endpoint parse(String text) {
        Objects.requireNonNull(text, "endpoint");
        int colon = text.lastIndexOf(':');
        if (colon <= 0 || colon == text.length() - 1) {
            throw new IllegalArgumentException("endpoint '" + text + "' is not of the form host:port");
        }
        String host = text.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port;
        try {
            port = Integer.parseInt(text.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("endpoint '" + text + "' has a port that is not a number");
        }
        return new Endpoint(host, port);
    }

    @Override
    public String toString() {
        return host.indexOf(':') >= 0 ? "[" + host + "]:" + port : host + ":" + port;
    }
}
