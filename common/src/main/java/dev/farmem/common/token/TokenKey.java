package dev.farmem.common.token;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.SecureRandom;

/**
 * The pool's token key: the raw bytes of a file, at least {@value #MIN_LENGTH} of them, exactly as
 * a mounted Kubernetes Secret key presents them (no base64, no trailing newline is stripped).
 * Make one with {@code head -c 32 /dev/urandom > pool.key}.
 */
public final class TokenKey {

    public static final int MIN_LENGTH = 32;

    private TokenKey() {}

    /** Reads and checks a key file; the message of the exception says what to do. */
    public static byte[] read(Path file) {
        byte[] key;
        try {
            key = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("key file " + file + " does not exist: mount the pool's key Secret there, or make one with 'head -c 32 /dev/urandom > " + file + "'");
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read key file " + file + ": " + e.getMessage());
        }
        return check(key, "key file " + file);
    }

    /** Checks a key's length; {@code what} names it in the error. */
    public static byte[] check(byte[] key, String what) {
        if (key.length == 0) {
            throw new IllegalArgumentException(what + " is empty: it must hold at least " + MIN_LENGTH + " random bytes (raw, not base64)");
        }
        if (key.length < MIN_LENGTH) {
            throw new IllegalArgumentException(what + " holds " + key.length + " bytes, fewer than the " + MIN_LENGTH
                    + " a token key needs: make one with 'head -c 32 /dev/urandom'");
        }
        return key.clone();
    }

    /** A fresh random key of {@value #MIN_LENGTH} bytes. */
    public static byte[] generate() {
        byte[] key = new byte[MIN_LENGTH];
        new SecureRandom().nextBytes(key);
        return key;
    }
}
