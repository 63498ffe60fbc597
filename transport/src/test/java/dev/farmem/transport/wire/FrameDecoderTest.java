package dev.farmem.transport.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.wire.WireFrame.ErrorReply;
import dev.farmem.transport.wire.WireFrame.Ping;
import dev.farmem.transport.wire.WireFrame.Read;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

class FrameDecoderTest {

    static final ByteBufAllocator A = ByteBufAllocator.DEFAULT;

    @Test
    void framesSplitAtEveryByteBoundaryDecodeWhole() {
        ByteBuf stream = Unpooled.wrappedBuffer(WireCodec.preamble(A), WireCodec.read(A, 5, 3, 4096, 64), WireCodec.ping(A, 6));
        EmbeddedChannel ch = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS));
        while (stream.isReadable()) ch.writeInbound(stream.readRetainedSlice(1));
        Read read = ch.readInbound();
        assertThat(read.op()).isEqualTo(Protocol.READ);
        assertThat(read.requestId()).isEqualTo(5);
        assertThat(read.slab()).isEqualTo(3);
        assertThat(read.length()).isEqualTo(64);
        assertThat(read.offset()).isEqualTo(4096);
        Ping ping = ch.readInbound();
        assertThat(ping.op()).isEqualTo(Protocol.PING);
        assertThat(ping.requestId()).isEqualTo(6);
        assertThat((Object) ch.readInbound()).isNull();
        stream.release();
        ch.finishAndReleaseAll();
    }

    @Test
    void oversizedLengthIsRefusedFromTheHeaderAloneAndLaterInputIgnored() {
        EmbeddedChannel ch = new EmbeddedChannel(FrameDecoder.forClient(Protocol.MIN_MAX_FRAME_SIZE));
        ByteBuf header = Unpooled.buffer();
        WireCodec.header(header, Protocol.WRITEV, 9, 1 << 30);
        ch.writeInbound(header);
        BadFrame bad = ch.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.FRAME_TOO_LARGE);
        assertThat(bad.requestId()).isEqualTo(9);
        ch.writeInbound(WireCodec.pong(A, 10));
        assertThat((Object) ch.readInbound()).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void lengthShorterThanAHeaderIsABadFrame() {
        EmbeddedChannel ch = new EmbeddedChannel(FrameDecoder.forClient(Protocol.DEFAULT_MAX_FRAME_SIZE));
        ch.writeInbound(Unpooled.buffer().writeIntLE(3).writeZero(12));
        BadFrame bad = ch.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.BAD_FRAME);
        ch.finishAndReleaseAll();
    }

    @Test
    void wrongMagicAndWrongVersionAreTold() {
        EmbeddedChannel http = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS));
        http.writeInbound(Unpooled.copiedBuffer("GET / HTTP/1.1\r\n".getBytes()));
        assertThat(((BadFrame) http.readInbound()).message()).contains("magic");
        ByteBuf v2 = Unpooled.buffer().writeBytes(Protocol.MAGIC).writeShortLE(2).writeShortLE(0);
        EmbeddedChannel future = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS));
        future.writeInbound(v2);
        BadFrame bad = future.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.UNSUPPORTED_VERSION);
        assertThat(bad.message()).contains("version 2");
        http.finishAndReleaseAll();
        future.finishAndReleaseAll();
    }

    @Test
    void errorFramesRoundTripTheirCodeAndMessage() {
        ByteBuf f = WireCodec.error(A, 77, ErrorCode.FENCED, "slab 3 moved on");
        EmbeddedChannel ch = new EmbeddedChannel(FrameDecoder.forClient(Protocol.DEFAULT_MAX_FRAME_SIZE));
        ch.writeInbound(f);
        ErrorReply error = ch.readInbound();
        assertThat(error.op()).isEqualTo(Protocol.ERROR);
        assertThat(error).isEqualTo(new ErrorReply(77, ErrorCode.FENCED, "slab 3 moved on"));
        ch.finishAndReleaseAll();
    }

    @Test
    void aMalformedBodyIsABadFrameAndLaterInputIgnored() {
        EmbeddedChannel ch = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS));
        ByteBuf shortRead = WireCodec.header(Unpooled.buffer(), Protocol.READ, 4, 3).writeZero(3);
        ch.writeInbound(Unpooled.wrappedBuffer(WireCodec.preamble(A), shortRead, WireCodec.ping(A, 5)));
        BadFrame bad = ch.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.BAD_FRAME);
        assertThat(bad.requestId()).isEqualTo(4);
        assertThat(bad.op()).isEqualTo(Protocol.READ);
        assertThat(bad.message()).contains("READ body of 3 bytes");
        ch.writeInbound(WireCodec.ping(A, 6));
        assertThat((Object) ch.readInbound()).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void onlyTheFirstFrameIsHeldToTheFirstFrameLimitRefusedFromItsLengthAlone() {
        EmbeddedChannel big = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS, 5000));
        ByteBuf start = WireCodec.header(WireCodec.preamble(A), Protocol.HELLO, 7, 10_000);
        big.writeInbound(start);
        BadFrame bad = big.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.FRAME_TOO_LARGE);
        assertThat(bad.requestId()).isEqualTo(7);
        assertThat(bad.op()).isEqualTo(BadFrame.NO_OP);
        assertThat(bad.message()).contains("before HELLO").contains("at most 5000 bytes");
        big.finishAndReleaseAll();

        EmbeddedChannel ok = new EmbeddedChannel(FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS, 5000));
        ByteBuffer bytes = ByteBuffer.allocate(8000);
        ok.writeInbound(Unpooled.wrappedBuffer(WireCodec.preamble(A), WireCodec.hello(A, 1, "t.s"),
                WireCodec.writev(A, 2, 0, new WriteBatch().add(0, bytes, 0, 8000))));
        assertThat(((WireFrame) ok.readInbound()).op()).isEqualTo(Protocol.HELLO);
        WireFrame writev = ok.readInbound();
        assertThat(writev.op()).isEqualTo(Protocol.WRITEV);
        writev.release();
        ok.finishAndReleaseAll();
    }

    @Test
    void theDecoderSaysWhenItHoldsPartOfAFrame() {
        FrameDecoder decoder = FrameDecoder.forNode(Protocol.DEFAULT_MAX_FRAME_SIZE, Protocol.DEFAULT_MAX_SEGMENTS);
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        ch.writeInbound(WireCodec.preamble(A).readRetainedSlice(5));
        assertThat(decoder.holdsPartialFrame()).as("a started preamble is not a frame").isFalse();
        ByteBuf rest = Unpooled.wrappedBuffer(Unpooled.wrappedBuffer(new byte[] {0, 0, 0}), WireCodec.ping(A, 1));
        ch.writeInbound(rest.readRetainedSlice(3 + 2));
        assertThat(decoder.holdsPartialFrame()).as("two bytes of a length field").isTrue();
        ch.writeInbound(rest.readRetainedSlice(rest.readableBytes() - 1));
        assertThat(decoder.holdsPartialFrame()).isTrue();
        ch.writeInbound(rest);
        assertThat(decoder.holdsPartialFrame()).isFalse();
        assertThat(((WireFrame) ch.readInbound()).op()).isEqualTo(Protocol.PING);
        ch.finishAndReleaseAll();
    }
}
