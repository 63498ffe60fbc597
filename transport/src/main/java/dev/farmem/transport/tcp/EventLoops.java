package dev.farmem.transport.tcp;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.epoll.EpollServerDomainSocketChannel;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerDomainSocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.file.Path;

/** Netty's native epoll transport where it loads (Linux), NIO otherwise; one choice for client and node. */
public final class EventLoops {

    private static final boolean EPOLL = Epoll.isAvailable();

    private EventLoops() {}

    /** {@code epoll} or {@code nio}. */
    public static String kind() {
        return EPOLL ? "epoll" : "nio";
    }

    /** Daemon I/O threads named {@code name-N}. */
    public static EventLoopGroup group(int threads, String name) {
        DefaultThreadFactory factory = new DefaultThreadFactory(name, true);
        return EPOLL ? new EpollEventLoopGroup(threads, factory) : new NioEventLoopGroup(threads, factory);
    }

    /** NIO event loops, whatever the platform: for channels whose JDK socket callers write to themselves ({@link DirectChannel}). */
    static EventLoopGroup nioGroup(int threads, String name) {
        return new NioEventLoopGroup(threads, new DefaultThreadFactory(name, true));
    }

    public static Class<? extends SocketChannel> socketChannel() {
        return EPOLL ? EpollSocketChannel.class : NioSocketChannel.class;
    }

    public static Class<? extends ServerChannel> serverChannel() {
        return EPOLL ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
    }

    /** A UNIX domain socket server channel for the same event loops (local doorbells, not memory traffic). */
    public static Class<? extends ServerChannel> serverDomainChannel() {
        return EPOLL ? EpollServerDomainSocketChannel.class : NioServerDomainSocketChannel.class;
    }

    /** The address of a UNIX domain socket at {@code file}, in the form {@link #serverDomainChannel()} binds. */
    public static SocketAddress domainAddress(Path file) {
        return EPOLL ? new DomainSocketAddress(file.toFile()) : UnixDomainSocketAddress.of(file);
    }
}
