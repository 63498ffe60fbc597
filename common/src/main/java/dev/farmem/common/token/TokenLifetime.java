package dev.farmem.common.token;

import java.time.Duration;

/**
 * How long a binding's tokens live and when they are renewed. A token is the only thing an agent
 * checks, and an agent never hears that a claim was deleted: the token's expiry is what ends a
 * deleted claim's access to its freed slabs. So tokens are short-lived, and the operator renews
 * them, through the binding Secret, once they are past half their life, which leaves the running
 * client the other half to pick the new ones up (the kubelet refreshes a mounted Secret within about
 * a minute, the client polls the file every second).
 *
 * <p>The bound: a deleted claim's tokens stop working at most {@link #ttl()} after the claim was
 * deleted (the last renewal happened before the deletion), plus the clock difference between the
 * operator's and the agent's machines.
 */
public record TokenLifetime(Duration ttl) {

    /** The default life of a binding's tokens: a deleted claim loses its slabs within ten minutes. */
    public static final Duration DEFAULT_TTL = Duration.ofMinutes(10);
    /** The shortest life allowed: a quarter of it must cover the kubelet's refresh of a mounted Secret (about a minute). */
    public static final Duration MIN_TTL = Duration.ofMinutes(1);

    public TokenLifetime {
        if (ttl == null || ttl.compareTo(Duration.ofSeconds(1)) < 0) {
            throw new IllegalArgumentException("a token lifetime of " + ttl + " is too short: give at least one second");
        }
    }

    public static TokenLifetime ofSeconds(long seconds) {
        return new TokenLifetime(Duration.ofSeconds(seconds));
    }

    /** When tokens issued at {@code nowMillis} expire. */
    public long expiresAt(long nowMillis) {
        return nowMillis + ttl.toMillis();
    }

    /**
     * Whether tokens that expire at {@code expiresAtMillis} must be renewed at {@code nowMillis}:
     * past half their life, or living longer than this lifetime allows (issued under a longer one,
     * which must not keep a deleted claim's access open that long).
     */
    public boolean renewalDue(long expiresAtMillis, long nowMillis) {
        return nowMillis >= expiresAtMillis - ttl.toMillis() / 2 || expiresAtMillis > nowMillis + ttl.toMillis();
    }

    /**
     * How often the tokens' holder (the claim reconcile) must look at them so that renewal happens between half and
     * three quarters of their life: a quarter of the lifetime, at most {@code longest}.
     */
    public Duration checkEvery(Duration longest) {
        Duration quarter = ttl.dividedBy(4);
        return quarter.compareTo(longest) < 0 ? quarter : longest;
    }
}
