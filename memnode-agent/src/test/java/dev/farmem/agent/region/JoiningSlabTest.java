package dev.farmem.agent.region;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import org.junit.jupiter.api.Test;

/** A joining slab fills only what no client wrote since the join, to the byte for lines written in part. */
class JoiningSlabTest {

    private static final int SLAB = 4096;

    private static ByteBuffer filled(int size, byte value) {
        ByteBuffer b = ByteBuffer.allocate(size);
        while (b.hasRemaining()) b.put(value);
        return b.flip();
    }

    @Test
    void aCopyNeverOverwritesLinesClientsWroteSinceTheJoin() {
        JoiningSlab j = new JoiningSlab(SLAB);
        ByteBuffer slab = ByteBuffer.allocate(SLAB);
        assertThat(j.missingLines()).isEqualTo(SLAB / 64);
        slab.put(64, filled(128, (byte) 7), 0, 128);
        j.written(64, 128);

        long filled = j.fill(slab, 0, filled(SLAB, (byte) 1));

        assertThat(filled).isEqualTo(SLAB - 128);
        assertThat(slab.get(0)).isEqualTo((byte) 1);
        assertThat(slab.get(64)).isEqualTo((byte) 7);
        assertThat(slab.get(191)).isEqualTo((byte) 7);
        assertThat(slab.get(192)).isEqualTo((byte) 1);
        assertThat(j.missingLines()).isZero();
        assertThat(j.fill(slab, 0, filled(SLAB, (byte) 2))).as("a second pass fills nothing").isZero();
    }

    @Test
    void aLineWrittenInPartKeepsThoseBytesAndTakesTheRestFromTheCopy() {
        JoiningSlab j = new JoiningSlab(SLAB);
        ByteBuffer slab = ByteBuffer.allocate(SLAB);
        slab.put(10, filled(4, (byte) 9), 0, 4);
        j.written(10, 4);
        assertThat(j.present(0, 64)).isFalse();

        j.fill(slab, 0, filled(64, (byte) 1));

        for (int i = 0; i < 64; i++) assertThat(slab.get(i)).as("byte " + i).isEqualTo(i >= 10 && i < 14 ? (byte) 9 : (byte) 1);
        assertThat(j.present(0, 64)).isTrue();
    }

    @Test
    void partsThatMakeAWholeLineMakeItPresent() {
        JoiningSlab j = new JoiningSlab(SLAB);
        j.written(128, 32);
        j.written(160, 32);
        assertThat(j.present(128, 64)).isTrue();
        assertThat(j.missingLines()).isEqualTo(SLAB / 64 - 1);
        j.written(4000, 96); // the last line and a half
        assertThat(j.present(4032, 64)).isTrue();
        assertThat(j.present(3968, 64)).isFalse();
    }
}
