package dev.farmem.bench.transport;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;

/**
 * The baseline: a plain loopback request/response over blocking sockets with the same byte
 * counts as farmem's frames (16-byte header, the request's payload, the response's payload), the
 * server copying request payloads into and response payloads out of an off-heap region. It does
 * no validation, no tokens, no ids: what TCP alone costs on this machine.
 *
 * <p>Request: i32 payloadLength | i32 responseLength | 8 bytes | payload. Response: 16 bytes | payload.
 */
final class PlainSocketPeer implements AutoCloseable {

    static final int HEADER = 16;

    private final ServerSocketChannel server;
    private final Thread thread;
    private final ByteBuffer region = ByteBuffer.allocateDirect(16 << 20);

    PlainSocketPeer() throws IOException {
        server = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0));
        thread = new Thread(this::serve, "plain-socket-peer");
        thread.setDaemon(true);
        thread.start();
    }

    InetSocketAddress address() throws IOException {
        return (InetSocketAddress) server.getLocalAddress();
    }

    /** Accepts clients, each served by its own thread. */
    private void serve() {
        while (server.isOpen()) {
            try {
                SocketChannel ch = server.accept();
                Thread t = new Thread(() -> serve(ch), "plain-socket-connection");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed
            }
        }
    }

    /** Requests are handled in batches as they arrive, responses flushed once per batch, as Netty does. */
    private void serve(SocketChannel ch) {
        ByteBuffer in = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer out = ByteBuffer.allocateDirect(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        try (ch) {
            ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            while (ch.read(in) >= 0) {
                in.flip();
                while (in.remaining() >= HEADER) {
                    int payload = in.getInt(in.position());
                    int response = in.getInt(in.position() + 4);
                    if (in.remaining() < HEADER + payload) break;
                    in.position(in.position() + HEADER);
                    ByteBuffer target = region.duplicate().position(0).limit(payload);
                    target.put(in.duplicate().limit(in.position() + payload));
                    in.position(in.position() + payload);
                    if (out.remaining() < HEADER + response) flush(ch, out);
                    out.putLong(response).putLong(0);
                    out.put(region.duplicate().position(64).limit(64 + response));
                }
                in.compact();
                flush(ch, out);
            }
        } catch (IOException e) {
            // the client went away
        }
    }

    private static void flush(SocketChannel ch, ByteBuffer out) throws IOException {
        out.flip();
        while (out.hasRemaining()) ch.write(out);
        out.clear();
    }

    @Override
    public void close() throws IOException {
        server.close();
    }
}
