package dev.farmem.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ByteSizeTest {

    @Test
    void parsesBinaryAndDecimalUnits() {
        assertThat(ByteSize.parse("4096", "x")).isEqualTo(4096);
        assertThat(ByteSize.parse("64MiB", "x")).isEqualTo(64L << 20);
        assertThat(ByteSize.parse("4GiB", "x")).isEqualTo(4L << 30);
        assertThat(ByteSize.parse("512Ki", "x")).isEqualTo(512L << 10);
        assertThat(ByteSize.parse("1G", "x")).isEqualTo(1_000_000_000L);
        assertThat(ByteSize.parse(" 2 TiB ", "x")).isEqualTo(2L << 40);
    }

    @Test
    void refusesWhatIsNotASizeNamingTheSetting() {
        assertThatThrownBy(() -> ByteSize.parse("lots", "--capacity")).hasMessageContaining("--capacity 'lots' is not a size");
        assertThatThrownBy(() -> ByteSize.parse("4XB", "--capacity")).hasMessageContaining("not a size");
        assertThatThrownBy(() -> ByteSize.parse("", "--capacity")).hasMessageContaining("empty");
        assertThatThrownBy(() -> ByteSize.parse("99999999999TiB", "--capacity")).hasMessageContaining("too large");
    }

    @Test
    void formatsTheShortestExactUnit() {
        assertThat(ByteSize.format(4L << 30)).isEqualTo("4GiB");
        assertThat(ByteSize.format(1536L << 10)).isEqualTo("1536KiB");
        assertThat(ByteSize.format(100)).isEqualTo("100B");
    }
}
