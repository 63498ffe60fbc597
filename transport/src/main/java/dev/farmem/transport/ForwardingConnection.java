package dev.farmem.transport;

import dev.farmem.common.Endpoint;

import java.nio.ByteBuffer;
import java.util.concurrent.CompletableFuture;

/**
 * A connection that hands every call to another one. A transport that wraps a real one (an emulated link, a test's
 * gate) extends this and overrides only the calls it changes.
 */
public abstract class ForwardingConnection implements MemoryNodeConnection {
    protected final MemoryNodeConnection delegate;

    protected ForwardingConnection(MemoryNodeConnection delegate) {
        this.delegate = delegate;
    }

    @Override
    public CompletableFuture<Void> read(int slab, long offset, ByteBuffer dst) {
        return delegate.read(slab, offset, dst);
    }

    @Override
    public CompletableFuture<Void> writev(int slab, WriteBatch batch) {
        return delegate.writev(slab, batch);
    }

    @Override
    public CompletableFuture<Long> ping() {
        return delegate.ping();
    }

    @Override
    public Endpoint endpoint() {
        return delegate.endpoint();
    }

    @Override
    public boolean isOpen() {
        return delegate.isOpen();
    }

    @Override
    public void close() {
        delegate.close();
    }
}
