package dev.farmem.transport.wire;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.farmem.transport.ErrorCode;
import dev.farmem.transport.WriteBatch;
import dev.farmem.transport.wire.WireFrame.ErrorReply;
import dev.farmem.transport.wire.WireFrame.Hello;
import dev.farmem.transport.wire.WireFrame.HelloOk;
import dev.farmem.transport.wire.WireFrame.Ping;
import dev.farmem.transport.wire.WireFrame.Pong;
import dev.farmem.transport.wire.WireFrame.Read;
import dev.farmem.transport.wire.WireFrame.ReadOk;
import dev.farmem.transport.wire.WireFrame.Writev;
import dev.farmem.transport.wire.WireFrame.WritevOk;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The codec as a specification: every frame it encodes decodes to the same typed frame on the
 * side that receives it, and no input, however broken, makes decoding throw: it gives a
 * {@link BadFrame} that says what was wrong, and the decoder ignores the rest of the connection.
 */
class WireCodecTest {

    static final ByteBufAllocator A = ByteBufAllocator.DEFAULT;
    static final int MAX_FRAME = Protocol.DEFAULT_MAX_FRAME_SIZE;
    static final int MAX_SEGMENTS = Protocol.DEFAULT_MAX_SEGMENTS;

    @Test
    void everyRequestRoundTripsThroughTheNodeDecoder() {
        String token = "payload.signature-" + "x".repeat(300);
        List<WireFrame> got = decodeAtNode(WireCodec.preamble(A), WireCodec.hello(A, 1, token), WireCodec.read(A, 2, 7, 1L << 33, 4096),
                WireCodec.ping(A, 3), WireCodec.writev(A, 4, 5, batchOf(new long[] {0, 64, 4032}, new int[] {64, 1, 64})));
        assertThat(got).hasSize(4);
        assertThat(got.get(0)).isEqualTo(new Hello(1, token));
        assertThat(got.get(1)).isEqualTo(new Read(2, 7, 4096, 1L << 33));
        assertThat(got.get(2)).isEqualTo(new Ping(3));
        Writev w = (Writev) got.get(3);
        assertThat(w.requestId()).isEqualTo(4);
        assertThat(w.slab()).isEqualTo(5);
        assertThat(w.segmentCount()).isEqualTo(3);
        List<String> segments = new ArrayList<>();
        for (int i = 0, s = w.first(); i < w.segmentCount(); i++, s = w.next(s)) {
            byte[] data = new byte[w.length(s)];
            w.body().getBytes(w.dataIndex(s), data);
            segments.add(w.offset(s) + ":" + w.length(s) + ":" + data[0] + ".." + data[data.length - 1]);
        }
        // batchOf fills segment bytes with (offset + i) so each segment's first and last byte are known.
        assertThat(segments).containsExactly("0:64:0..63", "64:1:64..64", "4032:64:-64..-1");
        got.forEach(WireFrame::release);
    }

    @Test
    void everyReplyRoundTripsThroughTheClientDecoder() {
        ByteBuf data = Unpooled.buffer(4096);
        for (int i = 0; i < 4096; i++) data.writeByte(i * 7);
        List<WireFrame> got = decodeAtClient(WireCodec.helloOk(A, new HelloOk(1, Protocol.VERSION, 2 << 20, 64L << 20, 32, 512)),
                WireCodec.readOk(A, 2, data, 1024, 2048), WireCodec.writevOk(A, 3), WireCodec.pong(A, 4),
                WireCodec.error(A, 5, ErrorCode.FENCED, "slab 3 moved on: é"), WireCodec.readOk(A, 6, data, 0, 0));
        assertThat(got).hasSize(6);
        assertThat(got.get(0)).isEqualTo(new HelloOk(1, Protocol.VERSION, 2 << 20, 64L << 20, 32, 512));
        ReadOk read = (ReadOk) got.get(1);
        assertThat(read.requestId()).isEqualTo(2);
        assertThat(ByteBufUtil.getBytes(read.data())).isEqualTo(ByteBufUtil.getBytes(data, 1024, 2048));
        assertThat(got.get(2)).isEqualTo(new WritevOk(3));
        assertThat(got.get(3)).isEqualTo(new Pong(4));
        assertThat(got.get(4)).isEqualTo(new ErrorReply(5, ErrorCode.FENCED, "slab 3 moved on: é"));
        assertThat(((ReadOk) got.get(5)).data().readableBytes()).isZero();
        got.forEach(WireFrame::release);
        data.release();
    }

    @Test
    void copyAndItsProgressRoundTrip() {
        List<WireFrame> requests = decodeAtNode(WireCodec.preamble(A), WireCodec.copy(A, 1, 7, 3, 2, "10.0.0.5:7000", "payload.sig"));
        assertThat(requests).containsExactly(new WireFrame.Copy(1, 7, 3, 2, "10.0.0.5:7000", "payload.sig"));
        List<WireFrame> replies = decodeAtClient(WireCodec.copyOk(A, 2, WireFrame.CopyState.FAILED, 1L << 33, 5, "source gone: é"));
        assertThat(replies).containsExactly(new WireFrame.CopyOk(2, WireFrame.CopyState.FAILED, 1L << 33, 5, "source gone: é"));
    }

    @Test
    void eachTypedFrameNamesItsOp() {
        assertThat(List.of(new Hello(0, ""), new HelloOk(0, 1, 0, 0, 0, 0), new Read(0, 0, 0, 0), new Ping(0), new WritevOk(0), new Pong(0),
                new ErrorReply(0, ErrorCode.INTERNAL, "")).stream().map(f -> Protocol.opName(f.op())))
                .containsExactly("HELLO", "HELLO_OK", "READ", "PING", "WRITEV_OK", "PONG", "ERROR");
    }

    @Test
    void anErrorMessageIsCutAtTheLimitAndStillDecodes() {
        List<WireFrame> got = decodeAtClient(WireCodec.error(A, 9, ErrorCode.INTERNAL, "m".repeat(5000)));
        assertThat(((ErrorReply) got.get(0)).message()).hasSize(Protocol.MAX_ERROR_MESSAGE);
    }

    @Test
    void aTokenLongerThanTheProtocolAllowsIsNotEncoded() {
        assertThatThrownBy(() -> WireCodec.hello(A, 1, "t".repeat(Protocol.MAX_TOKEN_LENGTH + 1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("longer than " + Protocol.MAX_TOKEN_LENGTH);
    }

    @Test
    void malformedRequestsSayWhatIsWrong() {
        assertBadRequest(Protocol.READ, body(b -> b.writeIntLE(1)), ErrorCode.BAD_FRAME, "READ body of 4 bytes, expected 16");
        assertBadRequest(Protocol.READ, body(b -> b.writeIntLE(0).writeIntLE(0).writeLongLE(0)), ErrorCode.FRAME_TOO_LARGE, "READ length 0 is not in 1..");
        assertBadRequest(Protocol.READ, body(b -> b.writeIntLE(0).writeIntLE(MAX_FRAME).writeLongLE(0)), ErrorCode.FRAME_TOO_LARGE,
                "READ length " + MAX_FRAME + " is not in 1.." + Protocol.maxReadLength(MAX_FRAME));
        assertBadRequest(Protocol.HELLO, body(b -> b.writeShortLE(10).writeZero(3)), ErrorCode.BAD_FRAME, "HELLO token length does not match the frame");
        assertBadRequest(Protocol.HELLO, body(b -> b.writeByte(1)), ErrorCode.BAD_FRAME, "HELLO token length does not match the frame");
        assertBadRequest(Protocol.HELLO, body(b -> b.writeShortLE(5000).writeZero(5000)), ErrorCode.BAD_FRAME, "longer than " + Protocol.MAX_TOKEN_LENGTH);
        assertBadRequest(Protocol.PING, body(b -> b.writeByte(0)), ErrorCode.BAD_FRAME, "PING with a body of 1 bytes");
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0)), ErrorCode.BAD_FRAME, "WRITEV body of 4 bytes is shorter than its header");
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(0)), ErrorCode.BAD_FRAME, "WRITEV segment count 0 is not in 1.." + MAX_SEGMENTS);
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(MAX_SEGMENTS + 1)), ErrorCode.BAD_FRAME, "segment count " + (MAX_SEGMENTS + 1));
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(2).writeLongLE(0).writeIntLE(1).writeByte(1)), ErrorCode.BAD_FRAME,
                "WRITEV claims 2 segments but the frame cannot hold their headers");
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(2).writeLongLE(0).writeIntLE(13).writeZero(13)), ErrorCode.BAD_FRAME,
                "WRITEV segment 1 header is truncated");
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(1).writeLongLE(0).writeIntLE(0)), ErrorCode.BAD_FRAME,
                "WRITEV segment 0 length 0 does not fit the frame");
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(1).writeLongLE(0).writeIntLE(-1)), ErrorCode.BAD_FRAME,
                "WRITEV segment 0 length -1 does not fit the frame");
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(1).writeLongLE(0).writeIntLE(8).writeZero(7)), ErrorCode.BAD_FRAME,
                "WRITEV segment 0 length 8 does not fit the frame");
        assertBadRequest(Protocol.WRITEV, body(b -> b.writeIntLE(0).writeIntLE(1).writeLongLE(0).writeIntLE(2).writeZero(5)), ErrorCode.BAD_FRAME,
                "WRITEV has 3 bytes after its last segment");
        assertBadRequest((byte) 0x06, body(b -> { }), ErrorCode.BAD_FRAME, "unknown op 0x06");
        assertBadRequest(Protocol.COPY, body(b -> { }), ErrorCode.BAD_FRAME, "COPY body of 0 bytes is shorter than its header");
        assertBadRequest(Protocol.COPY, body(b -> b.writeIntLE(0).writeIntLE(0).writeIntLE(0).writeShortLE(1).writeByte('h').writeShortLE(1).writeByte('t')),
                ErrorCode.BAD_FRAME, "the count >= 1");
        assertBadRequest(Protocol.COPY, body(b -> b.writeIntLE(0).writeIntLE(0).writeIntLE(1).writeShortLE(9).writeByte('h').writeShortLE(1).writeByte('t')),
                ErrorCode.BAD_FRAME, "COPY source endpoint length 9 does not fit the frame");
        assertBadRequest(Protocol.COPY, body(b -> b.writeIntLE(0).writeIntLE(0).writeIntLE(1).writeShortLE(1).writeByte('h').writeShortLE(3).writeByte('t')),
                ErrorCode.BAD_FRAME, "COPY source token length 3 does not match the frame");
        assertBadRequest(Protocol.READ_OK, body(b -> { }), ErrorCode.BAD_FRAME, "unknown op READ_OK: a node takes requests, not replies");
    }

    @Test
    void malformedRepliesSayWhatIsWrong() {
        assertBadReply(Protocol.HELLO_OK, body(b -> b.writeZero(20)), "HELLO_OK body of 20 bytes, expected 24");
        assertBadReply(Protocol.HELLO_OK, body(b -> b.writeShortLE(1).writeShortLE(0).writeIntLE(100).writeLongLE(1).writeIntLE(1).writeIntLE(1)),
                "HELLO_OK announces impossible limits: max frame 100");
        assertBadReply(Protocol.HELLO_OK, body(b -> b.writeShortLE(1).writeShortLE(0).writeIntLE(MAX_FRAME).writeLongLE(1).writeIntLE(1).writeIntLE(0)),
                "max segments 0");
        assertBadReply(Protocol.WRITEV_OK, body(b -> b.writeByte(1)), "WRITEV_OK with a body of 1 bytes");
        assertBadReply(Protocol.PONG, body(b -> b.writeByte(1)), "PONG with a body of 1 bytes");
        assertBadReply(Protocol.ERROR, body(b -> b.writeShortLE(1)), "ERROR body of 2 bytes is too short");
        assertBadReply(Protocol.ERROR, body(b -> b.writeShortLE(1).writeShortLE(10).writeZero(3)), "ERROR message length 10 does not match the frame's 3 bytes");
        assertBadReply(Protocol.READ, body(b -> b.writeZero(16)), "unknown op READ: a client takes replies, not requests");
        assertBadReply((byte) 0x86, body(b -> { }), "unknown op 0x86");
        assertBadReply(Protocol.COPY_OK, body(b -> b.writeByte(7).writeZero(19)), "COPY_OK state 7 is not 0, 1 or 2");
        assertBadReply(Protocol.COPY_OK, body(b -> b.writeByte(0).writeZero(17).writeShortLE(4)), "COPY_OK message length 4 does not match the frame");
    }

    /**
     * Valid frames of every type, mutated (bits flipped, cut short, lengths and counts replaced,
     * ops changed, bytes appended) and fed to both decoders in random pieces: every output is a
     * typed frame or one final BadFrame with a message, nothing throws, and a WRITEV's segments
     * can always be walked inside its body.
     */
    @Test
    void randomAndMutatedInputNeverThrowsAndEndsInOneBadFrameAtMost() {
        long seed = Long.getLong("farmem.fuzz.seed", System.nanoTime());
        Random rnd = new Random(seed);
        int bad = 0;
        int good = 0;
        for (int i = 0; i < 5_000; i++) {
            boolean node = rnd.nextBoolean();
            ByteBuf stream = Unpooled.buffer();
            if (node) stream.writeBytes(rnd.nextInt(50) == 0 ? mutate(rnd, bytes(WireCodec.preamble(A))) : bytes(WireCodec.preamble(A)));
            for (int f = 0, n = 1 + rnd.nextInt(4); f < n; f++) {
                byte[] frame = node ? validRequest(rnd, f) : validReply(rnd, f);
                stream.writeBytes(rnd.nextInt(3) == 0 ? frame : mutate(rnd, frame));
            }
            EmbeddedChannel ch = new EmbeddedChannel(node ? FrameDecoder.forNode(MAX_FRAME, MAX_SEGMENTS) : FrameDecoder.forClient(MAX_FRAME));
            String where = "seed " + seed + " iteration " + i;
            while (stream.isReadable()) ch.writeInbound(stream.readRetainedSlice(Math.min(stream.readableBytes(), 1 + rnd.nextInt(64))));
            stream.release();
            boolean sawBad = false;
            for (Object o; (o = ch.readInbound()) != null; ) {
                assertThat(sawBad).as(where + ": nothing after a BadFrame").isFalse();
                assertThat(o).as(where).isInstanceOf(WireFrame.class);
                if (o instanceof BadFrame b) {
                    sawBad = true;
                    bad++;
                    assertThat(b.message()).as(where).isNotBlank();
                    assertThat(b.code()).as(where).isIn(ErrorCode.BAD_FRAME, ErrorCode.FRAME_TOO_LARGE, ErrorCode.UNSUPPORTED_VERSION);
                } else {
                    good++;
                    if (o instanceof Writev w) {
                        long total = 0;
                        for (int s = 0, at = w.first(); s < w.segmentCount(); s++, at = w.next(at)) {
                            assertThat(w.length(at)).as(where).isPositive();
                            assertThat(w.dataIndex(at) + w.length(at)).as(where).isLessThanOrEqualTo(w.body().writerIndex());
                            total += Protocol.SEGMENT_HEADER + w.length(at);
                        }
                        assertThat(total + Protocol.WRITEV_BODY_HEADER).as(where).isEqualTo(w.body().readableBytes());
                    }
                    ((WireFrame) o).release();
                }
            }
            assertThat(ch.finish()).as(where).isFalse();
        }
        assertThat(bad).as("the fuzz broke frames").isPositive();
        assertThat(good).as("the fuzz left frames whole too").isPositive();
    }

    /** Any op and any body, handed to the codec directly: a frame or a BadFrame, never an exception. */
    @Test
    void everyOpWithAnyBodyDecodesToAFrameOrABadFrame() {
        Random rnd = new Random(Long.getLong("farmem.fuzz.seed", System.nanoTime()));
        for (int op = 0; op < 256; op++) {
            for (int i = 0; i < 200; i++) {
                byte[] body = new byte[i < 100 ? rnd.nextInt(40) : rnd.nextInt(300)];
                rnd.nextBytes(body);
                if (body.length >= 8 && rnd.nextBoolean()) body[4] = (byte) (1 + rnd.nextInt(3)); // a plausible segment count
                ByteBuf in = Unpooled.wrappedBuffer(body);
                WireFrame request = WireCodec.decodeRequest((byte) op, i, in, 0, body.length, MAX_FRAME, MAX_SEGMENTS);
                WireFrame reply = WireCodec.decodeReply((byte) op, i, in, 0, body.length);
                assertThat(request.requestId()).isEqualTo(i);
                assertThat(reply.requestId()).isEqualTo(i);
                if (request instanceof BadFrame b) assertThat(b.message()).isNotBlank();
                if (reply instanceof BadFrame b) assertThat(b.message()).isNotBlank();
                request.release();
                reply.release();
                assertThat(in.refCnt()).as("every slice released").isEqualTo(1);
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    private static void assertBadRequest(byte op, ByteBuf body, ErrorCode code, String message) {
        WireFrame f = WireCodec.decodeRequest(op, 42, body, body.readerIndex(), body.readableBytes(), MAX_FRAME, MAX_SEGMENTS);
        assertThat(f).isInstanceOf(BadFrame.class);
        BadFrame bad = (BadFrame) f;
        assertThat(bad.requestId()).isEqualTo(42);
        assertThat(bad.op()).isEqualTo(op);
        assertThat(bad.code()).isEqualTo(code);
        assertThat(bad.message()).contains(message);
        assertThat(body.refCnt()).isEqualTo(1);
        body.release();
    }

    private static void assertBadReply(byte op, ByteBuf body, String message) {
        WireFrame f = WireCodec.decodeReply(op, 42, body, body.readerIndex(), body.readableBytes());
        assertThat(f).isInstanceOf(BadFrame.class);
        assertThat(((BadFrame) f).code()).isEqualTo(ErrorCode.BAD_FRAME);
        assertThat(((BadFrame) f).message()).contains(message);
        body.release();
    }

    private static ByteBuf body(java.util.function.Consumer<ByteBuf> writer) {
        ByteBuf b = Unpooled.buffer();
        writer.accept(b);
        return b;
    }

    private static List<WireFrame> decodeAtNode(ByteBuf... frames) {
        return decode(FrameDecoder.forNode(MAX_FRAME, MAX_SEGMENTS), frames);
    }

    private static List<WireFrame> decodeAtClient(ByteBuf... frames) {
        return decode(FrameDecoder.forClient(MAX_FRAME), frames);
    }

    private static List<WireFrame> decode(FrameDecoder decoder, ByteBuf... frames) {
        EmbeddedChannel ch = new EmbeddedChannel(decoder);
        ch.writeInbound(Unpooled.wrappedBuffer(frames));
        List<WireFrame> out = new ArrayList<>();
        for (Object o; (o = ch.readInbound()) != null; ) out.add((WireFrame) o);
        ch.finish();
        return out;
    }

    /** Segments of the given offsets and lengths whose bytes are (offset + i). */
    private static WriteBatch batchOf(long[] offsets, int[] lengths) {
        WriteBatch batch = new WriteBatch();
        for (int s = 0; s < offsets.length; s++) {
            ByteBuffer src = ByteBuffer.allocate(lengths[s] + 3);
            for (int i = 0; i < lengths[s]; i++) src.put(3 + i, (byte) (offsets[s] + i));
            batch.add(offsets[s], src, 3, lengths[s]);
        }
        return batch;
    }

    private static byte[] validRequest(Random rnd, long id) {
        return switch (rnd.nextInt(4)) {
            case 0 -> bytes(WireCodec.read(A, id, rnd.nextInt(8), rnd.nextInt(1 << 20), 1 + rnd.nextInt(8192)));
            case 1 -> bytes(WireCodec.ping(A, id));
            case 2 -> bytes(WireCodec.hello(A, id, "tok." + "a".repeat(rnd.nextInt(100))));
            default -> {
                int n = 1 + rnd.nextInt(5);
                long[] offsets = new long[n];
                int[] lengths = new int[n];
                for (int s = 0; s < n; s++) {
                    offsets[s] = rnd.nextInt(1 << 16);
                    lengths[s] = 1 + rnd.nextInt(200);
                }
                yield bytes(WireCodec.writev(A, id, rnd.nextInt(8), batchOf(offsets, lengths)));
            }
        };
    }

    private static byte[] validReply(Random rnd, long id) {
        return switch (rnd.nextInt(5)) {
            case 0 -> bytes(WireCodec.helloOk(A, id, MAX_FRAME, 1 << 20, 8, MAX_SEGMENTS));
            case 1 -> {
                ByteBuf data = Unpooled.wrappedBuffer(new byte[rnd.nextInt(5000)]);
                byte[] f = bytes(WireCodec.readOk(A, id, data, 0, data.readableBytes()));
                data.release();
                yield f;
            }
            case 2 -> bytes(WireCodec.writevOk(A, id));
            case 3 -> bytes(WireCodec.pong(A, id));
            default -> bytes(WireCodec.error(A, id, ErrorCode.values()[rnd.nextInt(ErrorCode.values().length)], "why " + rnd.nextInt()));
        };
    }

    private static byte[] mutate(Random rnd, byte[] frame) {
        byte[] f = frame.clone();
        ByteBuf w = Unpooled.wrappedBuffer(f);
        switch (rnd.nextInt(7)) {
            case 0 -> { for (int i = 0, n = 1 + rnd.nextInt(4); i < n; i++) f[rnd.nextInt(f.length)] ^= (byte) (1 + rnd.nextInt(255)); }
            case 1 -> f = java.util.Arrays.copyOf(f, rnd.nextInt(f.length));
            case 2 -> { if (f.length >= 4) w.setIntLE(0, pick(rnd, 0, 11, 12, f.length - 3, f.length - 5, MAX_FRAME, Integer.MAX_VALUE, -1, rnd.nextInt())); }
            case 3 -> { if (f.length >= 5) f[4] = (byte) rnd.nextInt(256); }
            case 4 -> { if (f.length >= 24) w.setIntLE(20, pick(rnd, 0, -1, 1, 2, MAX_SEGMENTS + 1, Integer.MAX_VALUE, rnd.nextInt())); }
            case 5 -> { if (f.length >= 36) w.setIntLE(32, pick(rnd, 0, -1, 1, 1 << 20, Integer.MAX_VALUE, rnd.nextInt())); }
            default -> {
                byte[] tail = new byte[1 + rnd.nextInt(64)];
                rnd.nextBytes(tail);
                byte[] longer = java.util.Arrays.copyOf(f, f.length + tail.length);
                System.arraycopy(tail, 0, longer, f.length, tail.length);
                f = longer;
            }
        }
        return f;
    }

    private static int pick(Random rnd, int... choices) {
        return choices[rnd.nextInt(choices.length)];
    }

    private static byte[] bytes(ByteBuf buf) {
        byte[] out = ByteBufUtil.getBytes(buf);
        buf.release();
        return out;
    }
}
