package dev.farmem.common.token;

import java.security.SecureRandom;

/**
 * Which agent process serves a memory node. An agent draws a random incarnation at start; tokens
 * name it, and a restarted agent (the same node name, a new and empty region) refuses tokens for
 * any other, so that a client never reads the zeros of a fresh region as its data. Random, not a
 * counter: a restarted agent remembers nothing, and 64 random bits do not repeat in practice.
 * Written as 16 hex digits (MemoryNode status, logs).
 */
public final class Incarnation {

    /** What a token of format 1, issued before incarnations existed, names: no agent ever draws it. */
    public static final long NONE = 0;

    private static final SecureRandom RANDOM = new SecureRandom();

    private Incarnation() {}

    /** A fresh incarnation, never {@link #NONE}. */
    public static long draw() {
        for (;;) {
            long i = RANDOM.nextLong();
            if (i != NONE) return i;
        }
    }

    /** 16 lower-case hex digits. */
    public static String format(long incarnation) {
        return String.format("%016x", incarnation);
    }

    /** Parses {@link #format}'s text; the message says what was wrong. */
    public static long parse(String text) {
        if (text == null || text.length() != 16) {
            throw new IllegalArgumentException("incarnation '" + text + "' is not 16 hex digits");
        }
        try {
            long i = Long.parseUnsignedLong(text, 16);
            if (i == NONE) throw new IllegalArgumentException("incarnation " + text + " is the reserved 'none'");
            return i;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("incarnation '" + text + "' is not 16 hex digits");
        }
    }
}
