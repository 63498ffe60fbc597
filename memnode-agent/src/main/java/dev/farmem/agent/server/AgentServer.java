package dev.farmem.agent.server;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.common.Endpoint;
import dev.farmem.transport.tcp.EventLoops;
import dev.farmem.transport.wire.FrameDecoder;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.Locale;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * The memory node's TCP server: accepts clients and serves their requests from a {@link SlabStore}.
 * Each connection's pipeline has one job per handler: the codec's {@link FrameDecoder} (frames and
 * their bodies, the frame limits, a first frame no larger than a HELLO), {@link PartialFrameTimeout},
 * {@link HelloHandler} (admission, HELLO timeout, token, attach; it replaces itself by the next) and
 * {@link RequestHandler} (READ, WRITEV, PING under the grant, back-pressure).
 */
public final class AgentServer implements AutoCloseable {

    private final EventLoopGroup boss;
    private final EventLoopGroup workers;
    private final Channel listener;
    private final ChannelGroup clients = new DefaultChannelGroup("farmem-agent-clients", GlobalEventExecutor.INSTANCE);
    private final Endpoint endpoint;
    private final Admission admission;
    /** Attaches (and zeroes) slabs for HELLOs, off the I/O threads. */
    private final ExecutorService attacher = Executors.newSingleThreadExecutor(new DefaultThreadFactory("farmem-agent-attach", true));

    private AgentServer(InetSocketAddress listen, SlabStore store, TokenVerifier verifier, AgentMetrics metrics,
                        int maxFrameSize, int maxSegments, int ioThreads, ConnectionLimits limits) {
        admission = new Admission(limits, metrics);
        metrics.queuedBytes(this::queuedBytes);
        boss = EventLoops.group(1, "farmem-agent-accept");
        workers = EventLoops.group(ioThreads, "farmem-agent-io");
        NodeService service = new NodeService(store, verifier, metrics, maxFrameSize, maxSegments);
        try {
            listener = new ServerBootstrap()
                    .group(boss, workers)
                    .channel(EventLoops.serverChannel())
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.ALLOCATOR, PooledByteBufAllocator.DEFAULT)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(limits.resumeQueuedBytes(), limits.maxQueuedBytes()))
                    .childHandler(new ChannelInitializer<Channel>() {
                        @Override
                        protected void initChannel(Channel ch) {
                            clients.add(ch);
                            metrics.connectionOpened();
                            ch.closeFuture().addListener(closed -> metrics.connectionClosed());
                            FrameDecoder decoder = FrameDecoder.forNode(maxFrameSize, maxSegments, ConnectionLimits.MAX_HELLO_FRAME);
                            ch.pipeline().addLast(decoder, new PartialFrameTimeout(decoder, metrics, limits), new HelloHandler(service, admission, attacher));
                        }
                    })
                    .bind(listen).syncUninterruptibly().channel();
        } catch (Exception e) { // Netty rethrows the bind's checked BindException as is
            attacher.shutdownNow();
            boss.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            workers.shutdownGracefully(0, 0, TimeUnit.SECONDS);
            // NIO throws a BindException, epoll a NativeIoException: both say "Address already in use".
            String why = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT).contains("already in use")
                    ? "the address is already in use: another process (maybe another agent) listens there; stop it or choose another --listen"
                    : e.getMessage();
            throw new IllegalStateException("cannot listen on " + listen.getHostString() + ":" + listen.getPort() + ": " + why, e);
        }
        InetSocketAddress bound = (InetSocketAddress) listener.localAddress();
        endpoint = new Endpoint(bound.getAddress().getHostAddress(), bound.getPort());
    }

    /** Binds {@code listen} (port 0 for any free port) and starts serving. */
    public static AgentServer start(InetSocketAddress listen, SlabStore store, TokenVerifier verifier, AgentMetrics metrics,
                                    int maxFrameSize, int maxSegments, int ioThreads, ConnectionLimits limits) {
        return new AgentServer(listen, store, verifier, metrics, maxFrameSize, maxSegments, ioThreads, limits);
    }

    /** Response bytes queued on all connections, not yet taken by their sockets. */
    long queuedBytes() {
        long total = 0;
        for (Channel ch : clients) {
            ChannelOutboundBuffer out = ch.unsafe().outboundBuffer();
            if (out != null) total += out.totalPendingWriteBytes();
        }
        return total;
    }

    /** The address clients reach: the bound address and port. */
    public Endpoint endpoint() {
        return endpoint;
    }

    /**
     * Stops accepting, lets every connection finish the requests it already received (their
     * responses are flushed), then closes the connections. Waits at most {@code timeout}. A
     * connection held back because its client did not take its responses keeps that limit: the
     * requests it holds unserved are dropped, and its client sees the connection close.
     */
    public void drain(Duration timeout) {
        listener.close().syncUninterruptibly();
        admission.drain();
        for (Channel ch : clients) {
            ch.config().setAutoRead(false);
            // Runs after the event loop finished the batch it is reading: every decoded request has its response queued
            // (but for the requests of a connection held back by its queue limit).
            ch.eventLoop().execute(() -> ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE));
        }
        clients.newCloseFuture().awaitUninterruptibly(timeout.toMillis());
        shutdown();
    }

    /** Closes at once: connections drop, pending requests of clients fail. */
    @Override
    public void close() {
        listener.close().syncUninterruptibly();
        clients.close().awaitUninterruptibly(1000);
        shutdown();
    }

    private void shutdown() {
        attacher.shutdownNow();
        boss.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        workers.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }
}
