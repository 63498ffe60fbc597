package dev.farmem.transport.wire;

import dev.farmem.common.Endpoint;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.wire.WireFrame.CopyOk;
import dev.farmem.transport.wire.WireFrame.ErrorReply;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.time.Duration;

/**
 * One blocking connection to a memory node for the control requests the operator sends: HELLO with
 * an operator-issued token, then COPY (re-replication), one request at a time. Not for the data
 * path (that is {@code NettyTransport}). Every call waits at most the timeout given at connect.
 * Not thread-safe.
 */
public final class BlockingWireClient implements AutoCloseable {

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    private long nextId = 1;

    private BlockingWireClient(Socket socket) throws IOException {
        this.socket = socket;
        this.in = new DataInputStream(socket.getInputStream());
        this.out = socket.getOutputStream();
    }

    /**
     * Connects and presents {@code token}; throws a {@link TransportException} with the node's code when it refuses
     * the token (FENCED, STALE_INCARNATION, ...) or {@code CONNECTION_CLOSED} when it cannot be reached.
     */
    public static BlockingWireClient connect(Endpoint endpoint, String token, Duration timeout) {
        Socket socket = new Socket();
        try {
            socket.connect(new InetSocketAddress(endpoint.host(), endpoint.port()), (int) timeout.toMillis());
            socket.setSoTimeout((int) timeout.toMillis());
            socket.setTcpNoDelay(true);
            BlockingWireClient c = new BlockingWireClient(socket);
            c.send(WireCodec.preamble(ByteBufAllocator.DEFAULT));
            c.call(WireCodec.hello(ByteBufAllocator.DEFAULT, c.nextId++, token), WireFrame.HelloOk.class);
            return c;
        } catch (IOException e) {
            closeQuietly(socket);
            throw new TransportException(ErrorCode.CONNECTION_CLOSED, "memory node " + endpoint + " cannot be reached: " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(socket);
            throw e;
        }
    }

    /** Sends COPY and returns the copy's progress; see {@link Protocol}. */
    public CopyOk copy(int slab, int sourceSlab, int slabCount, Endpoint source, String sourceToken) {
        try {
            return call(WireCodec.copy(ByteBufAllocator.DEFAULT, nextId++, slab, sourceSlab, slabCount, source.toString(), sourceToken), CopyOk.class);
        } catch (IOException e) {
            throw new TransportException(ErrorCode.CONNECTION_CLOSED, "COPY to " + socket.getRemoteSocketAddress() + " failed: " + e.getMessage(), e);
        }
    }

    private <T extends WireFrame> T call(ByteBuf request, Class<T> expected) throws IOException {
        long id = request.getLongLE(8);
        send(request);
        int length = Integer.reverseBytes(in.readInt());
        if (length < Protocol.HEADER_AFTER_LENGTH || length > Protocol.DEFAULT_MAX_FRAME_SIZE) {
            throw new TransportException(ErrorCode.BAD_FRAME, "the node answered a frame of " + length + " bytes");
        }
        byte[] frame = new byte[length];
        in.readFully(frame);
        ByteBuf buf = Unpooled.wrappedBuffer(frame);
        WireFrame reply = WireCodec.decodeReply(buf.getByte(0), buf.getLongLE(4), buf, Protocol.HEADER_AFTER_LENGTH, length - Protocol.HEADER_AFTER_LENGTH);
        try {
            if (reply instanceof ErrorReply e) throw new TransportException(e.code(), e.message());
            if (reply instanceof BadFrame bad) throw new TransportException(ErrorCode.BAD_FRAME, "the node's reply is malformed: " + bad.message());
            if (!expected.isInstance(reply) || reply.requestId() != id) {
                throw new TransportException(ErrorCode.BAD_FRAME, "expected " + expected.getSimpleName() + " for request " + id + ", got "
                        + Protocol.opName(reply.op()) + " for " + reply.requestId());
            }
            return expected.cast(reply);
        } finally {
            reply.release();
        }
    }

    private void send(ByteBuf frame) throws IOException {
        try {
            byte[] bytes = new byte[frame.readableBytes()];
            frame.readBytes(bytes);
            out.write(bytes);
            out.flush();
        } finally {
            frame.release();
        }
    }

    @Override
    public void close() {
        closeQuietly(socket);
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing: nothing to do
        }
    }
}
