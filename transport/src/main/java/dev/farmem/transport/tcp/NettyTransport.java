package dev.farmem.transport.tcp;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.Transport;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.FrameDecoder;
import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.util.AttributeKey;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * The TCP transport: the farmem wire protocol over Netty (native epoll where it loads). One
 * instance owns its I/O threads; share it between connections.
 *
 * <pre>{@code
 * try (Transport tcp = new NettyTransport()) {
 *     MemoryNodeConnection c = tcp.connect(Endpoint.parse("127.0.0.1:7070"), token).join();
 *     ByteBuffer block = ByteBuffer.allocateDirect(4096);
 *     c.read(slab, 0, block).join();
 * }
 * }</pre>
 */
public final class NettyTransport implements Transport {

    private static final AttributeKey<NettyConnection> CONNECTION = AttributeKey.valueOf("farmem.connection");

    private final TcpOptions options;
    private final EventLoopGroup group;
    private final boolean ownsGroup;
    private final Bootstrap bootstrap;
    private final Set<NettyConnection> connections = ConcurrentHashMap.newKeySet();
    /** Each thread's requests held by {@link #gather}; none for a thread that never gathered. */
    private final ThreadLocal<Gathering> gathering = new ThreadLocal<>();

    public NettyTransport() {
        this(TcpOptions.defaults());
    }

    /**
     * A transport with its own I/O threads, where callers write their requests to the socket
     * themselves ({@link DirectWriter}) and the threads only read replies. They are NIO threads
     * even where epoll loads: a JDK socket can be written from any thread safely, a native one's
     * descriptor cannot (see {@link DirectChannel}).
     */
    public NettyTransport(TcpOptions options) {
        this(options, EventLoops.nioGroup(options.ioThreads(), "farmem-tcp-client"), true);
    }

    /**
     * A transport whose connections run on {@code group}, which the caller owns (and shuts down
     * after closing this): a caller serving other channels on the same event loop (the sidecar's
     * doorbells) then answers a miss on the thread that reads the memory node's response, with
     * no hand-off. Requests are written by that event loop ({@link LoopWriter}): the group may be
     * epoll, whose sockets callers cannot write to themselves. {@code options.ioThreads()} is not used.
     */
    public NettyTransport(TcpOptions options, EventLoopGroup group) {
        this(options, group, false);
    }

    private NettyTransport(TcpOptions options, EventLoopGroup group, boolean ownsGroup) {
        this.options = options;
        this.group = group;
        this.ownsGroup = ownsGroup;
        Bootstrap b = new Bootstrap().group(group);
        if (ownsGroup) b.channelFactory(DirectChannel::new); else b.channel(EventLoops.socketChannel());
        this.bootstrap = b
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) options.connectTimeout().toMillis());
    }

    @Override
    public String name() {
        return "tcp";
    }

    public TcpOptions options() {
        return options;
    }

    @Override
    public CompletableFuture<MemoryNodeConnection> connect(Endpoint endpoint, String token) {
        CompletableFuture<MemoryNodeConnection> result = new CompletableFuture<>();
        Bootstrap b = bootstrap.clone().handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                NettyConnection c = new NettyConnection(ch, endpoint, options, gathering);
                ch.attr(CONNECTION).set(c);
                ch.pipeline().addLast(FrameDecoder.forClient(options.maxFrameSize()), c.handler());
            }
        });
        b.connect(endpoint.host(), endpoint.port()).addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                result.completeExceptionally(new TransportException(ErrorCode.CONNECTION_CLOSED, "cannot connect to memory node "
                        + endpoint + ": " + f.cause().getMessage(), f.cause()));
                return;
            }
            NettyConnection c = f.channel().attr(CONNECTION).get();
            connections.add(c);
            f.channel().closeFuture().addListener(x -> connections.remove(c));
            c.hello(token).whenComplete((conn, error) -> {
                if (error == null) result.complete(conn);
                else result.completeExceptionally(error instanceof CompletionException ? error.getCause() : error);
            });
        });
        return result;
    }

    /**
     * Holds the calling thread's requests until the scope closes, then writes each connection's with one system call
     * (see {@link Transport#gather}). Measured on a batch of misses: docs/benchmarks.md, "Misses in flight".
     */
    @Override
    public Gather gather() {
        Gathering g = gathering.get();
        if (g == null) {
            g = new Gathering();
            gathering.set(g);
        }
        return g.open();
    }

    @Override
    public void close() {
        for (NettyConnection c : connections) c.close();
        if (ownsGroup) group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
