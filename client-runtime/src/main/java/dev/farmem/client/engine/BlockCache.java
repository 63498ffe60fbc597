package dev.farmem.client.engine;

import dev.farmem.client.cache.CacheRegion;

/**
 * What the access path ({@code FarBuffer}) needs from whoever serves the misses of a
 * {@link CacheRegion}: the in-process {@link CacheEngine}, or an application attached to a
 * sidecar over shared memory ({@code dev.farmem.client.sidecar.SidecarClient}). Hits never go
 * through here except {@link #countHit()}.
 */
public interface BlockCache extends AutoCloseable {

    CacheRegion region();

    /** Throws {@link IllegalStateException} saying why when the cache can no longer be used. */
    void ensureOpen();

    /** The frame holding {@code block}, held so eviction cannot take it until {@link #unpin}; fetches on a miss. */
    int pin(long block);

    void unpin(int frame);

    /** Marks bytes {@code [offset, offset + length)} of a pinned frame dirty; call after writing them. */
    void markDirty(int frame, int offset, int length);

    /** Counts an access served by an optimistic read. */
    void countHit();

    /** Every write that completed before this call is acknowledged by every live replica when it returns. */
    void flush();

    @Override
    void close();
}
