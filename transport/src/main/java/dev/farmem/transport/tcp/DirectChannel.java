package dev.farmem.transport.tcp;

import io.netty.channel.socket.nio.NioSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * A Netty NIO socket channel whose JDK channel callers may write to themselves ({@link DirectWriter}).
 * The JDK channel, unlike a native one's file descriptor, is safe to write from any thread while the
 * event loop reads or closes it: a write after close fails instead of reaching a reused descriptor.
 */
final class DirectChannel extends NioSocketChannel {

    SocketChannel jdkChannel() {
        return javaChannel();
    }
}
