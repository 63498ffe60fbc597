package dev.farmem.agent.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.agent.metrics.AgentMetrics;
import dev.farmem.agent.region.SlabStore;
import dev.farmem.common.token.Incarnation;
import dev.farmem.common.token.Rights;
import dev.farmem.common.token.TokenIssuer;
import dev.farmem.common.token.TokenKey;
import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.wire.FrameDecoder;
import dev.farmem.transport.wire.Protocol;
import dev.farmem.transport.wire.WireCodec;
import dev.farmem.transport.wire.WireFrame;
import dev.farmem.transport.wire.WireFrame.ErrorReply;
import dev.farmem.transport.wire.WireFrame.HelloOk;
import dev.farmem.transport.wire.WireFrame.Pong;
import dev.farmem.transport.wire.WireFrame.ReadOk;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.prometheus.client.CollectorRegistry;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The agent's pipeline, handler by handler, on an embedded channel: the HELLO handler is the only
 * one that sees a connection before it authenticates; once the token checked out it answers
 * HELLO_OK, puts the request handler with the grant in its place and hands it what the client
 * pipelined behind its HELLO, in order.
 */
class AgentPipelineTest {

    static final long SLAB = 64 * 1024;
    static final ByteBufAllocator A = ByteBufAllocator.DEFAULT;
    static final byte[] KEY = TokenKey.generate();
    static final long INCARNATION = Incarnation.draw();

    final CollectorRegistry registry = new CollectorRegistry();
    final AgentMetrics metrics = new AgentMetrics(registry, "test", "tcp");
    final NodeService service = new NodeService(SlabStore.allocate(4 * SLAB, SLAB, null), new TokenVerifier(KEY, "agent-0", INCARNATION), metrics,
            Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS);
    final EmbeddedChannel ch = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS),
            new HelloHandler(service, new Admission(ConnectionLimits.DEFAULT, metrics), Runnable::run));

    static String token(int firstSlab) {
        return new TokenIssuer(KEY).issue("agent-0", INCARNATION, "claim", 1, firstSlab, 1, Rights.READ_WRITE, System.currentTimeMillis() + 600_000);
    }

    @Test
    void theHelloHandlerInstallsTheRequestHandlerAndRemovesItself() {
        assertThat(unauthenticated()).isEqualTo(1);
        send(WireCodec.preamble(A), WireCodec.hello(A, 1, token(2)), WireCodec.read(A, 2, 2, 128, 64), WireCodec.ping(A, 3));
        ch.runPendingTasks(); // the attach finished: back on the event loop

        List<WireFrame> replies = replies();
        assertThat(replies).hasSize(3);
        assertThat(replies.get(0)).isEqualTo(new HelloOk(1, Protocol.VERSION, Protocol.DEFAULT_MAX_FRAME_SIZE, SLAB, 4, Protocol.DEFAULT_MAX_SEGMENTS));
        assertThat(replies.get(1)).isInstanceOf(ReadOk.class);
        assertThat(((ReadOk) replies.get(1)).data().readableBytes()).isEqualTo(64);
        assertThat(replies.get(2)).isEqualTo(new Pong(3));
        replies.forEach(WireFrame::release);

        assertThat(ch.pipeline().get(HelloHandler.class)).isNull();
        assertThat(ch.pipeline().get(RequestHandler.class)).isNotNull();
        assertThat(unauthenticated()).isZero();
        assertThat(ch.config().isAutoRead()).isTrue();
        assertThat(ch.isActive()).isTrue();
        ch.finishAndReleaseAll();
    }

    @Test
    void anyFrameButHelloFirstIsUnauthenticatedWellFormedOrNot() {
        ByteBuf shortRead = WireCodec.header(Unpooled.buffer(), Protocol.READ, 4, 3).writeZero(3);
        for (ByteBuf first : List.of(WireCodec.read(A, 4, 0, 0, 64), shortRead, WireCodec.header(Unpooled.buffer(), (byte) 0x05, 4, 0))) {
            EmbeddedChannel c = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS),
                    new HelloHandler(service, new Admission(ConnectionLimits.DEFAULT, metrics), Runnable::run));
            c.writeInbound(Unpooled.wrappedBuffer(WireCodec.preamble(A), first));
            ErrorReply error = (ErrorReply) replies(c).get(0);
            assertThat(error.requestId()).isEqualTo(4);
            assertThat(error.code()).isEqualTo(ErrorCode.UNAUTHENTICATED);
            assertThat(error.message()).contains("before HELLO: present a token first");
            assertThat(c.isActive()).isFalse();
            assertThat(c.pipeline().get(RequestHandler.class)).isNull();
        }
        ch.finishAndReleaseAll();
    }

    @Test
    void aRefusedTokenClosesTheConnectionWithoutARequestHandler() {
        send(WireCodec.preamble(A), WireCodec.hello(A, 1, token(0) + "x"), WireCodec.ping(A, 2));
        ch.runPendingTasks();
        List<WireFrame> replies = replies();
        assertThat(replies).hasSize(1);
        assertThat(((ErrorReply) replies.get(0)).code()).isEqualTo(ErrorCode.UNAUTHENTICATED);
        assertThat(ch.isActive()).isFalse();
        assertThat(ch.pipeline().get(RequestHandler.class)).isNull();
        assertThat(unauthenticated()).isZero();
    }

    @Test
    void aSecondHelloBreaksTheProtocol() {
        send(WireCodec.preamble(A), WireCodec.hello(A, 1, token(0)));
        ch.runPendingTasks();
        send(WireCodec.hello(A, 2, token(0)));
        List<WireFrame> replies = replies();
        assertThat(replies.get(0)).isInstanceOf(HelloOk.class);
        ErrorReply error = (ErrorReply) replies.get(1);
        assertThat(error.code()).isEqualTo(ErrorCode.BAD_FRAME);
        assertThat(error.message()).contains("a second HELLO");
        assertThat(ch.isActive()).isFalse();
    }

    private void send(ByteBuf... frames) {
        ch.writeInbound(Unpooled.wrappedBuffer(frames));
    }

    private List<WireFrame> replies() {
        return replies(ch);
    }

    private static List<WireFrame> replies(EmbeddedChannel c) {
        EmbeddedChannel client = new EmbeddedChannel(FrameDecoder.forClient(Protocol.DEFAULT_MAX_FRAME_SIZE));
        for (Object out; (out = c.readOutbound()) != null; ) client.writeInbound(out);
        List<WireFrame> frames = new ArrayList<>();
        for (Object in; (in = client.readInbound()) != null; ) frames.add((WireFrame) in);
        client.finish();
        return frames;
    }

    private double unauthenticated() {
        return registry.getSampleValue("farmem_agent_unauthenticated_connections");
    }
}
