package dev.farmem.transport.rdma;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.InvocationTargetException;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * Loads DiSNI with farmem's own {@code libdisni} from the transport jar, the way Netty loads its native epoll:
 * extract the library for this platform to a temporary file and load it from there.
 *
 * <p>Why a class loader: DiSNI's {@code NativeDispatcher} calls {@code System.loadLibrary("disni")} in its static
 * initializer, which only searches {@code java.library.path} (fixed when the JVM starts), unless the calling class's
 * loader answers {@link ClassLoader#findLibrary}. So DiSNI's classes, and farmem's classes that use them, are
 * defined by one child-first loader whose {@code findLibrary("disni")} names the extracted file. By convention
 * those farmem classes live in packages ending in {@code .rdma.disni} ({@link #CHILD_FIRST}); they are reached
 * from the rest of farmem only through interfaces of the parent (for example {@code Transport}), made with
 * {@link #create}. Every other class (the SPI, the agent's slab store, slf4j) comes from the parent, so types agree.
 *
 * <p>DiSNI reads direct buffers' addresses through {@code sun.nio.ch.DirectBuffer}: the JVM needs
 * {@code --add-exports java.base/sun.nio.ch=ALL-UNNAMED} ({@link #problem()} says so when it is missing).
 */
public final class DisniRuntime {

    /** Where native/build puts the library in the jar. */
    static final String RESOURCE = "META-INF/native/linux-x86_64/libdisni.so";

    private static final String[] CHILD_FIRST = {"com.ibm.disni."};
    private static final String CHILD_FIRST_PACKAGE_SUFFIX = ".rdma.disni";

    private static final Object LOCK = new Object();
    private static ClassLoader loader;
    private static String failure;

    private DisniRuntime() {}

    /**
     * Null when DiSNI with libdisni can be loaded in this JVM, else what is missing and what to do. Does not
     * touch an RDMA device.
     */
    public static String problem() {
        if (!("Linux".equals(System.getProperty("os.name")) && "amd64".equals(System.getProperty("os.arch")))) {
            return "libdisni is built for linux-x86_64 only; this JVM runs on " + System.getProperty("os.name") + "-" + System.getProperty("os.arch");
        }
        if (!Object.class.getModule().isExported("sun.nio.ch", DisniRuntime.class.getModule())) {
            return "DiSNI needs sun.nio.ch: start java with --add-exports java.base/sun.nio.ch=ALL-UNNAMED";
        }
        try {
            loader();
            return null;
        } catch (IllegalStateException e) {
            return e.getMessage();
        }
    }

    /**
     * Makes an instance of {@code className} (a class in a {@code .rdma.disni} package) inside the DiSNI loader and
     * returns it as {@code type}, an interface of the parent loader. The constructor is the public one whose
     * parameter types are {@code parameterTypes}.
     */
    public static <T> T create(Class<T> type, String className, Class<?>[] parameterTypes, Object... args) {
        String why = problem();
        if (why != null) throw new IllegalStateException(why);
        try {
            Class<?> c = Class.forName(className, true, loader());
            return type.cast(c.getConstructor(parameterTypes).newInstance(args));
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) throw r;
            if (cause instanceof Error err) throw err;
            throw new IllegalStateException(className + " failed to start: " + cause, cause);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot make " + className + " in the DiSNI loader: " + e, e);
        }
    }

    /** The child-first loader over this JVM's class path, with libdisni extracted; made once. */
    public static ClassLoader loader() {
        synchronized (LOCK) {
            if (loader != null) return loader;
            if (failure != null) throw new IllegalStateException(failure);
            try {
                Path lib = extract();
                loader = new ChildFirst(classPath(), DisniRuntime.class.getClassLoader(), lib);
                return loader;
            } catch (IOException | RuntimeException e) {
                failure = e.getMessage();
                throw new IllegalStateException(failure, e);
            }
        }
    }

    private static Path extract() throws IOException {
        try (InputStream in = DisniRuntime.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IOException("libdisni is not in the transport jar (" + RESOURCE + "): it was built without it;"
                        + " rebuild the transport module on linux-x86_64 with gcc, libibverbs-dev and librdmacm-dev");
            }
            Path dir = Files.createTempDirectory("farmem-disni");
            Path lib = dir.resolve("libdisni.so");
            Files.copy(in, lib, StandardCopyOption.REPLACE_EXISTING);
            // Once loaded the file is mapped: deleting it on exit leaves nothing behind and does not unload it.
            lib.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return lib;
        }
    }

    /** The parent's class path as URLs: java.class.path (a manifest-only jar's Class-Path is followed by URLClassLoader). */
    private static URL[] classPath() {
        List<URL> urls = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path", "").split(File.pathSeparator)) {
            if (entry.isBlank()) continue;
            try {
                urls.add(Path.of(entry).toAbsolutePath().toUri().toURL());
            } catch (MalformedURLException e) {
                throw new IllegalStateException("class path entry " + entry + " is not a path: " + e.getMessage(), e);
            }
        }
        return urls.toArray(URL[]::new);
    }

    static boolean childFirst(String className) {
        for (String prefix : CHILD_FIRST) if (className.startsWith(prefix)) return true;
        int dot = className.lastIndexOf('.');
        return dot > 0 && className.substring(0, dot).endsWith(CHILD_FIRST_PACKAGE_SUFFIX);
    }

    private static final class ChildFirst extends URLClassLoader {
        static {
            ClassLoader.registerAsParallelCapable();
        }

        private final Path lib;

        ChildFirst(URL[] urls, ClassLoader parent, Path lib) {
            super("farmem-disni", urls, parent);
            this.lib = lib;
        }

        @Override
        protected Class<?> loadClass(String name, boolean resolve) throws ClassNotFoundException {
            if (!childFirst(name)) return super.loadClass(name, resolve);
            synchronized (getClassLoadingLock(name)) {
                Class<?> c = findLoadedClass(name);
                if (c == null) c = findClass(name);
                if (resolve) resolveClass(c);
                return c;
            }
        }

        @Override
        protected String findLibrary(String name) {
            return "disni".equals(name) ? lib.toString() : super.findLibrary(name);
        }
    }
}
