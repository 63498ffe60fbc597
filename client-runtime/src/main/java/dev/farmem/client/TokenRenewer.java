package dev.farmem.client;

import dev.farmem.client.engine.ReplicaRouter;
import dev.farmem.common.binding.Binding;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the binding file of an in-process {@link FarMemory} (the mounted binding Secret, which the
 * operator rewrites with renewed tokens at half their life) and hands renewed tokens to the router,
 * which presents them on new connections without failing a request in flight. A binding that
 * changed in more than its tokens (another claim, epoch or placement) is not this attach: it is
 * logged once and the far memory goes on with what it has; reopen it to use the new binding.
 *
 * <p>Thread: its {@link BindingWatch}'s, {@code farmem-binding-<claim>}, which reads the file and renews.
 */
final class TokenRenewer implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TokenRenewer.class);

    private final Path path;
    private final ReplicaRouter router;
    private final BindingWatch watch;
    private Binding current;
    private Binding refused; // logged once

    TokenRenewer(Path path, Binding opened, ReplicaRouter router, long pollMillis) {
        this.path = path;
        this.router = router;
        this.current = opened;
        this.watch = new BindingWatch(path, "farmem-binding-" + opened.claim(), pollMillis, this::check);
    }

    private void check(Binding fresh) {
        if (fresh.equals(current) || fresh.equals(refused)) return;
        if (router.renewTokens(fresh)) {
            current = fresh;
            LOG.info("tokens of claim {} renewed from {}", fresh.claim(), path);
        } else {
            refused = fresh;
            LOG.warn("binding {} changed in more than its tokens (claim {} uid {}, epoch {}): this far memory keeps serving epoch {};"
                    + " reopen it to use the new binding", path, fresh.claim(), fresh.claimUid(), fresh.epoch(), current.epoch());
        }
    }

    /** Stops reading; a renewal under way finishes first. */
    @Override
    public void close() {
        watch.close();
    }
}
