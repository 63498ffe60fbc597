package dev.farmem.e2e.harness;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class LoopbackAddressesTest {
    @Test
    void podIpsAreDistinctLoopbackAddressesInTheClustersBlock() {
        LoopbackAddresses a = new LoopbackAddresses(120, 170);
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 600; i++) {
            String ip = a.nextPodIp();
            assertThat(ip).startsWith("127.170.").doesNotEndWith(".0").doesNotEndWith(".255");
            assertThat(LoopbackAddresses.isLoopback(ip)).isTrue();
            assertThat(seen.add(ip)).as("unique %s", ip).isTrue();
        }
        assertThat(a.serviceCidr()).isEqualTo("127.120.0.0/16");
    }

    @Test
    void onlyAddressesIn127Slash8AreLoopback() {
        assertThat(LoopbackAddresses.isLoopback("127.0.0.1")).isTrue();
        assertThat(LoopbackAddresses.isLoopback("10.96.0.1")).isFalse();
        assertThat(LoopbackAddresses.isLoopback("192.168.1.4")).isFalse();
        assertThat(LoopbackAddresses.isLoopback("127.example.com")).isFalse();
        assertThat(LoopbackAddresses.isLoopback(null)).isFalse();
    }

    @Test
    void theServiceAndPodBlocksMustDiffer() {
        assertThatThrownBy(() -> new LoopbackAddresses(150, 150)).isInstanceOf(IllegalArgumentException.class);
    }
}
