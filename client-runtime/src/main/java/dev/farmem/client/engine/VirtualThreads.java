package dev.farmem.client.engine;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Whether the calling thread is a virtual thread, on any JVM: this module is built for Java 17,
 * which has no {@code Thread.isVirtual()}, so the method is looked up once; on Java 17 no thread
 * is virtual. A constant method handle, so the check compiles to the plain call.
 */
final class VirtualThreads {

    private static final MethodHandle IS_VIRTUAL = lookUp();

    private VirtualThreads() {}

    /** True when the current thread is a virtual thread (Java 21+). */
    static boolean current() {
        if (IS_VIRTUAL == null) return false;
        try {
            return (boolean) IS_VIRTUAL.invokeExact(Thread.currentThread());
        } catch (Throwable e) {
            throw new IllegalStateException("Thread.isVirtual() failed", e);
        }
    }

    private static MethodHandle lookUp() {
        try {
            return MethodHandles.publicLookup().findVirtual(Thread.class, "isVirtual", MethodType.methodType(boolean.class));
        } catch (NoSuchMethodException | IllegalAccessException e) {
            return null; // Java 17 to 20: no virtual threads (19 and 20 have them only as a preview)
        }
    }
}
