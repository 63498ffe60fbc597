package dev.farmem.client.engine;

import dev.farmem.common.binding.Binding;
import dev.farmem.transport.Transport;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The transports a far memory reaches its memory nodes with, in-process and in the sidecar: the one each binding names,
 * opened the first time a binding names it and kept until {@link #close}, each with the cache region registered (RDMA
 * READs land in the frames and WRITEs leave from them). One far memory may need two in turn: while a new replica of the
 * claim fills, the operator binds the claim to TCP, which every agent serves, and to RDMA again once the copy is done,
 * because one-sided RDMA WRITEs would bypass the line tracking of the filling replica. An override (the options'
 * transport) serves every binding and is not closed here.
 *
 * <p>Thread-safe: {@link #of} runs where a router is built (the opening thread, then the binding watch's).
 */
public final class BoundTransports implements AutoCloseable {

    private record Opened(Transport transport, Transport.Registration registration, boolean owned) {}

    private final String claim;
    private final ByteBuffer region;
    private final Transport override;
    /** Opens a transport by name; throws IllegalStateException or IllegalArgumentException saying why it cannot. */
    private final Function<String, Transport> open;
    private final Map<String, Opened> opened = new LinkedHashMap<>();
    private boolean closed;

    /**
     * @param override the transport for every binding, or null to open the one each binding names with {@code open}
     * @param region the cache's memory, registered with every transport used
     */
    public BoundTransports(String claim, ByteBuffer region, Transport override, Function<String, Transport> open) {
        this.claim = claim;
        this.region = region;
        this.override = override;
        this.open = open;
    }

    /** The name a binding's transport goes by: {@code tcp} when it names none. */
    public static String name(Binding binding) {
        return binding.transport() == null ? "tcp" : binding.transport();
    }

    /**
     * The transport for {@code binding}'s connections, opened and registered the first time; fails naming the claim and
     * the reason (for example RDMA's probe) when this host cannot open the transport the binding names.
     */
    public synchronized Transport of(Binding binding) {
        if (closed) throw new IllegalStateException("the far memory of claim " + claim + " is closed");
        String name = override != null ? override.name() : name(binding);
        Opened o = opened.get(name);
        if (o != null) return o.transport();
        Transport t;
        if (override != null) {
            t = override;
        } else {
            try {
                t = open.apply(name);
            } catch (IllegalStateException | IllegalArgumentException e) {
                throw new IllegalStateException("claim " + claim + " is bound with transport " + name + ", which this process cannot open: "
                        + e.getMessage() + " (FarMemoryOptions.transport overrides the binding)", e);
            }
        }
        Transport.Registration r;
        try {
            r = t.register(region);
        } catch (RuntimeException e) {
            if (override == null) t.close();
            throw e;
        }
        opened.put(name, new Opened(t, r, override == null));
        return t;
    }

    /** True when the first transport opened WRITEs from the registered region with no copy (see {@link Transport.Registration}). */
    public synchronized boolean writesWithoutCopy() {
        return opened.values().stream().findFirst().map(o -> o.registration().writesWithoutCopy()).orElse(false);
    }

    /** Releases the registrations, then closes the transports opened here; after the engine, when no request uses them. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        List<RuntimeException> failures = new ArrayList<>();
        for (Opened o : opened.values()) {
            try {
                o.registration().close();
                if (o.owned()) o.transport().close();
            } catch (RuntimeException e) {
                failures.add(e);
            }
        }
        if (!failures.isEmpty()) {
            RuntimeException first = failures.get(0);
            failures.stream().skip(1).forEach(first::addSuppressed);
            throw first;
        }
    }
}
