package dev.farmem.transport.wire;

import static org.assertj.core.api.Assertions.assertThat;

import dev.farmem.transport.ErrorCode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import org.junit.jupiter.api.Test;

class FrameDecoderTest {

    static final ByteBufAllocator A = ByteBufAllocator.DEFAULT;

    @Test
    void framesSplitAtEveryByteBoundaryDecodeWhole() {
        ByteBuf stream = Unpooled.wrappedBuffer(FrameWriter.preamble(A), FrameWriter.read(A, 5, 3, 4096, 64), FrameWriter.empty(A, Protocol.PING, 6));
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(Protocol.DEFAULT_MAX_FRAME_SIZE, true));
        while (stream.isReadable()) ch.writeInbound(stream.readRetainedSlice(1));
        Frame read = ch.readInbound();
        assertThat(read.op()).isEqualTo(Protocol.READ);
        assertThat(read.requestId()).isEqualTo(5);
        assertThat(read.body().readableBytes()).isEqualTo(Protocol.READ_BODY);
        assertThat(read.body().getIntLE(read.body().readerIndex())).isEqualTo(3);
        assertThat(read.body().getLongLE(read.body().readerIndex() + 8)).isEqualTo(4096);
        read.release();
        Frame ping = ch.readInbound();
        assertThat(ping.op()).isEqualTo(Protocol.PING);
        assertThat(ping.requestId()).isEqualTo(6);
        ping.release();
        assertThat((Object) ch.readInbound()).isNull();
        stream.release();
        ch.finishAndReleaseAll();
    }

    @Test
    void oversizedLengthIsRefusedFromTheHeaderAloneAndLaterInputIgnored() {
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(Protocol.MIN_MAX_FRAME_SIZE, false));
        ByteBuf header = Unpooled.buffer();
        FrameWriter.header(header, Protocol.WRITEV, 9, 1 << 30);
        ch.writeInbound(header);
        BadFrame bad = ch.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.FRAME_TOO_LARGE);
        assertThat(bad.requestId()).isEqualTo(9);
        ch.writeInbound(FrameWriter.empty(A, Protocol.PING, 10));
        assertThat((Object) ch.readInbound()).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void lengthShorterThanAHeaderIsABadFrame() {
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(Protocol.DEFAULT_MAX_FRAME_SIZE, false));
        ch.writeInbound(Unpooled.buffer().writeIntLE(3).writeZero(12));
        BadFrame bad = ch.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.BAD_FRAME);
        ch.finishAndReleaseAll();
    }

    @Test
    void wrongMagicAndWrongVersionAreTold() {
        EmbeddedChannel http = new EmbeddedChannel(new FrameDecoder(Protocol.DEFAULT_MAX_FRAME_SIZE, true));
        http.writeInbound(Unpooled.copiedBuffer("GET / HTTP/1.1\r\n".getBytes()));
        assertThat(((BadFrame) http.readInbound()).message()).contains("magic");
        ByteBuf v2 = Unpooled.buffer().writeBytes(Protocol.MAGIC).writeShortLE(2).writeShortLE(0);
        EmbeddedChannel future = new EmbeddedChannel(new FrameDecoder(Protocol.DEFAULT_MAX_FRAME_SIZE, true));
        future.writeInbound(v2);
        BadFrame bad = future.readInbound();
        assertThat(bad.code()).isEqualTo(ErrorCode.UNSUPPORTED_VERSION);
        assertThat(bad.message()).contains("version 2");
        http.finishAndReleaseAll();
        future.finishAndReleaseAll();
    }

    @Test
    void errorFramesRoundTripTheirCodeAndMessage() {
        ByteBuf f = FrameWriter.error(A, 77, ErrorCode.FENCED, "slab 3 moved on");
        EmbeddedChannel ch = new EmbeddedChannel(new FrameDecoder(Protocol.DEFAULT_MAX_FRAME_SIZE, false));
        ch.writeInbound(f);
        Frame frame = ch.readInbound();
        assertThat(frame.op()).isEqualTo(Protocol.ERROR);
        assertThat(FrameWriter.parseError(frame.body())).isEqualTo(new FrameWriter.ErrorFrame(ErrorCode.FENCED, "slab 3 moved on"));
        frame.release();
        ch.finishAndReleaseAll();
    }
}
