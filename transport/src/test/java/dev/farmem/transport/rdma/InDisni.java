package dev.farmem.transport.rdma;

import java.util.Arrays;
import java.util.concurrent.Callable;

/**
 * The guest's entry point for checks that use DiSNI: {@code InDisni <class> [args...]} makes the class (a
 * {@code Callable} in a {@code .rdma.disni} package, constructor of String arguments) inside {@link DisniRuntime}'s
 * loader, so libdisni comes out of the jar as in production, runs it and exits 0, or prints why and exits 1.
 */
public final class InDisni {
    private InDisni() {}

    public static void main(String[] args) {
        try {
            Object[] rest = Arrays.copyOfRange(args, 1, args.length, Object[].class);
            Class<?>[] types = new Class<?>[rest.length];
            for (int i = 0; i < rest.length; i++) {
                types[i] = ((String) rest[i]).matches("\\d+") ? Integer.class : String.class;
                if (types[i] == Integer.class) rest[i] = Integer.valueOf((String) rest[i]);
            }
            @SuppressWarnings("unchecked")
            Callable<Object> check = DisniRuntime.create(Callable.class, args[0], types, rest);
            check.call();
            System.out.println("IN_DISNI_OK " + args[0]);
            System.exit(0);
        } catch (Throwable t) {
            System.out.println("IN_DISNI_FAILED " + args[0] + ": " + t);
            t.printStackTrace(System.out);
            System.exit(1);
        }
    }
}
