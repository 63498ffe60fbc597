package dev.farmem.http;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.nio.NioEventLoopGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.ReadTimeoutException;
import io.netty.handler.timeout.ReadTimeoutHandler;
import io.netty.util.concurrent.DefaultEventExecutorGroup;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.net.ssl.SSLEngine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The HTTP(S) endpoints of the operator (/healthz, /metrics, the webhook) and of the memory-node
 * agent (/healthz, /readyz, /metrics), on Netty: no connection
 * holds a thread while a client sends slowly, and a connection that sends nothing for the read
 * timeout is closed, so one slow or stuck client never keeps /healthz from answering. Handlers
 * run on their own small thread group (a webhook review may call the API server), never on the
 * I/O thread. With an {@link SSLEngine} supplier it serves TLS, asking the supplier per
 * connection (a renewed certificate serves new connections).
 */
public final class HttpEndpoints implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HttpEndpoints.class);
    /** What a client gets to send the next part of a request; after it the connection is closed. */
    public static final Duration READ_TIMEOUT = Duration.ofSeconds(10);

    /** A request as a handler sees it. */
    public record Request(String method, String path, byte[] body) {}

    /** An answer: status code, content type, body. */
    public record Response(int status, String contentType, byte[] body) {
        public static Response text(int status, String body) {
            return new Response(status, "text/plain; charset=utf-8", body.getBytes(StandardCharsets.UTF_8));
        }
    }

    /** Answers requests to one path. */
    @FunctionalInterface
    public interface Handler {
        Response handle(Request request) throws Exception;
    }

    private final EventLoopGroup io;
    private final EventExecutorGroup work;
    private final Channel channel;

    /**
     * Serves {@code handlers} (by exact path) on {@code address}; {@code tls} null serves plain
     * HTTP. Requests with a body above {@code maxBody} bytes get 413.
     */
    public HttpEndpoints(String name, InetSocketAddress address, Supplier<SSLEngine> tls, Map<String, Handler> handlers, int maxBody,
                         Duration readTimeout) {
        io = new NioEventLoopGroup(1, new DefaultThreadFactory(name + "-io", true));
        work = new DefaultEventExecutorGroup(2, new DefaultThreadFactory(name, true));
        Map<String, Handler> routes = Map.copyOf(handlers);
        try {
            channel = new ServerBootstrap().group(io).channel(NioServerSocketChannel.class)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast(new ReadTimeoutHandler(readTimeout.toMillis(), TimeUnit.MILLISECONDS));
                            if (tls != null) ch.pipeline().addLast(new SslHandler(tls.get()));
                            ch.pipeline().addLast(new HttpServerCodec(), new HttpObjectAggregator(maxBody));
                            ch.pipeline().addLast(work, new Dispatch(name, routes));
                        }
                    })
                    .bind(address).syncUninterruptibly().channel();
        } catch (RuntimeException e) {
            close();
            throw new IllegalStateException("cannot serve " + name + " on " + address + ": " + e.getMessage(), e);
        }
    }

    /** Serves {@code handlers} with the default read timeout. */
    public HttpEndpoints(String name, InetSocketAddress address, Supplier<SSLEngine> tls, Map<String, Handler> handlers, int maxBody) {
        this(name, address, tls, handlers, maxBody, READ_TIMEOUT);
    }

    /** The address served on (with the port chosen when asked for port 0). */
    public InetSocketAddress address() {
        return (InetSocketAddress) channel.localAddress();
    }

    public int port() {
        return address().getPort();
    }

    @Override
    public void close() {
        if (channel != null) channel.close().syncUninterruptibly();
        // The I/O group first: the connections it closes remove their handlers on the work group.
        io.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        work.shutdownGracefully(0, 1, TimeUnit.SECONDS);
    }

    private static final class Dispatch extends SimpleChannelInboundHandler<FullHttpRequest> {
        private final String name;
        private final Map<String, Handler> routes;

        Dispatch(String name, Map<String, Handler> routes) {
            this.name = name;
            this.routes = routes;
        }

        @Override
        protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest request) {
            String path = new QueryStringDecoder(request.uri()).path();
            Handler handler = routes.get(path);
            Response response;
            if (!request.decoderResult().isSuccess()) {
                response = Response.text(400, "malformed HTTP request: " + request.decoderResult().cause() + "\n");
            } else if (handler == null) {
                response = Response.text(404, "no " + path + " here; try " + String.join(", ", routes.keySet().stream().sorted().toList()) + "\n");
            } else {
                byte[] body = new byte[request.content().readableBytes()];
                request.content().readBytes(body);
                try {
                    response = handler.handle(new Request(request.method().name(), path, body));
                } catch (Exception e) {
                    LOG.warn("{} {} failed: {}", request.method(), path, e.toString());
                    response = Response.text(500, name + " failed to answer " + path + ": " + e.getMessage() + "\n");
                }
            }
            FullHttpResponse out = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(response.status()),
                    Unpooled.wrappedBuffer(response.body()));
            out.headers().set(HttpHeaderNames.CONTENT_TYPE, response.contentType());
            HttpUtil.setContentLength(out, response.body().length);
            boolean keepAlive = HttpUtil.isKeepAlive(request);
            HttpUtil.setKeepAlive(out, keepAlive);
            var written = ctx.writeAndFlush(out);
            if (!keepAlive) written.addListener(ChannelFutureListener.CLOSE);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (!(cause instanceof ReadTimeoutException)) LOG.debug("HTTP connection from {} failed: {}", ctx.channel().remoteAddress(), cause.toString());
            ctx.close();
        }
    }
}
