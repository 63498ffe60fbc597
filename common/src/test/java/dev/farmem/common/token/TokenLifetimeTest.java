package dev.farmem.common.token;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class TokenLifetimeTest {

    static final long NOW = 1_700_000_000_000L;
    final TokenLifetime tenMinutes = new TokenLifetime(Duration.ofMinutes(10));

    @Test
    void tokensExpireOneLifetimeAfterTheyAreIssued() {
        assertThat(tenMinutes.expiresAt(NOW)).isEqualTo(NOW + 600_000);
    }

    @Test
    void freshTokensAreNotRenewedBeforeHalfTheirLife() {
        long expires = tenMinutes.expiresAt(NOW);
        assertThat(tenMinutes.renewalDue(expires, NOW)).isFalse();
        assertThat(tenMinutes.renewalDue(expires, NOW + 299_999)).isFalse();
    }

    @Test
    void tokensPastHalfTheirLifeAreRenewed() {
        long expires = tenMinutes.expiresAt(NOW);
        assertThat(tenMinutes.renewalDue(expires, NOW + 300_000)).isTrue();
        assertThat(tenMinutes.renewalDue(expires, NOW + 599_999)).isTrue();
        assertThat(tenMinutes.renewalDue(expires, NOW + 3_600_000)).as("already expired").isTrue();
    }

    @Test
    void tokensIssuedUnderALongerLifetimeAreRenewedAtOnceSoTheShorterBoundHolds() {
        long thirtyDays = NOW + Duration.ofDays(30).toMillis();
        assertThat(tenMinutes.renewalDue(thirtyDays, NOW)).isTrue();
        assertThat(tenMinutes.renewalDue(tenMinutes.expiresAt(NOW), NOW)).isFalse();
    }

    @Test
    void theHolderLooksEveryQuarterLifetimeSoRenewalLandsBeforeThreeQuartersOfIt() {
        assertThat(tenMinutes.checkEvery(Duration.ofHours(1))).isEqualTo(Duration.ofSeconds(150));
        assertThat(tenMinutes.checkEvery(Duration.ofSeconds(60))).isEqualTo(Duration.ofSeconds(60));
        assertThat(new TokenLifetime(Duration.ofMinutes(1)).checkEvery(Duration.ofSeconds(60))).isEqualTo(Duration.ofSeconds(15));
    }

    @Test
    void aLifetimeUnderASecondIsRefusedWithTheShortestAllowed() {
        assertThatThrownBy(() -> new TokenLifetime(Duration.ofMillis(10))).hasMessageContaining("give at least one second");
    }
}
