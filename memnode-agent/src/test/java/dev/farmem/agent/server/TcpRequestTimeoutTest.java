package dev.farmem.agent.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.common.Endpoint;
import dev.farmem.common.token.CapabilityToken;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.SlabRange;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.MemoryNodeConnection;
import dev.farmem.transport.TransportException;
import dev.farmem.transport.tcp.NettyTransport;
import dev.farmem.transport.tcp.TcpOptions;
import dev.farmem.transport.wire.WireCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * What only a hand-made TCP peer can show: a node that accepts the HELLO and then never answers. Every behaviour a
 * real agent shows (round trips, pipelining, back-pressure, refusals, fencing, zeroing, node loss) is the transport
 * contract's, run over TCP by {@code agent.rdma.TcpTransportContractTest} and over RDMA in the guest.
 */
class TcpRequestTimeoutTest {
    static final long SLAB = 1L << 20;

    @Test
    void aNodeThatNeverAnswersTimesOutTheRequest() throws Exception {
        TokenIssuer issuer = new TokenIssuer(TokenKey.generate());
        String token = issuer.issue(new CapabilityToken("silent", Incarnation.draw(), "t", 1, List.of(new SlabRange(28, 1)), Rights.READ,
                System.currentTimeMillis() + 60_000));
        try (ServerSocket silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             NettyTransport quick = new NettyTransport(TcpOptions.defaults().withRequestTimeout(Duration.ofMillis(300)).withIoThreads(1))) {
            Thread server = new Thread(() -> answerHelloThenStall(silent));
            server.setDaemon(true);
            server.start();
            MemoryNodeConnection c = quick.connect(new Endpoint("127.0.0.1", silent.getLocalPort()), token).join();
            assertThatThrownBy(() -> c.read(28, 0, ByteBuffer.allocate(64)).join()).satisfies(t -> {
                Throwable cause = t instanceof CompletionException ? t.getCause() : t;
                assertThat(cause).isInstanceOf(TransportException.class);
                assertThat(((TransportException) cause).code()).isEqualTo(ErrorCode.TIMEOUT);
            });
            c.close();
        }
    }

    private static void answerHelloThenStall(ServerSocket server) {
        try (Socket s = server.accept()) {
            InputStream in = s.getInputStream();
            byte[] head = in.readNBytes(8 + 16);
            int bodyLength = (head[8] & 0xFF | (head[9] & 0xFF) << 8) - 12;
            in.readNBytes(bodyLength);
            ByteBuf ok = WireCodec.helloOk(UnpooledByteBufAllocator.DEFAULT, 1, 1 << 20, SLAB, 32, 1024);
            byte[] bytes = new byte[ok.readableBytes()];
            ok.readBytes(bytes);
            ok.release();
            s.getOutputStream().write(bytes);
            in.readAllBytes();
        } catch (IOException ignored) {
            // the client closed
        }
    }
}
