package dev.farmem.agent;

import dev.farmem.agent.metrics.MetricsServer;
import dev.farmem.common.ByteSize;
import dev.farmem.common.Endpoint;
import dev.farmem.common.token.Incarnation;
import dev.farmem.crds.MemoryNodeStatus;
import dev.farmem.transport.rdma.RdmaSupport;
import dev.farmem.transport.tcp.EventLoops;
import io.prometheus.client.CollectorRegistry;
import io.prometheus.client.hotspot.DefaultExports;
import java.lang.reflect.InvocationTargetException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import sun.misc.Signal;

/** {@code ./farmem agent}: one memory node as a process. See {@link AgentOptions#help()}. */
public final class AgentMain {

    private static final Logger log = LoggerFactory.getLogger(AgentMain.class);
    private static final String KUBERNETES_REGISTRATION = "dev.farmem.agent.registration.KubernetesRegistration";

    private AgentMain() {}

    public static void main(String[] args) {
        AgentOptions options = AgentOptions.parseOrExit(args, System.getenv());
        try {
            run(options);
        } catch (IllegalArgumentException | IllegalStateException e) {
            log.error("farmem agent: {}", e.getMessage()); // one line that says what to do, no stack trace
            System.exit(1);
        }
    }

    private static void run(AgentOptions options) {
        AgentSettings s = options.settings();
        AgentRegistration registration = registration(options.registration());
        // Refuse before allocating: a region the machine cannot hold would grow until the kernel kills the process.
        MachineMemory.here().check(s.capacity(), Runtime.getRuntime().maxMemory(), s.backingFile() == null);
        DefaultExports.initialize();
        log.info("allocating {} in slabs of {} for node {} of pool {}", ByteSize.format(s.capacity()), ByteSize.format(s.slabSize()), s.node(), s.pool());
        MemoryNodeAgent agent = MemoryNodeAgent.start(s, CollectorRegistry.defaultRegistry);
        serveRdma(agent, options);
        AtomicBoolean ready = new AtomicBoolean();
        MetricsServer metrics = MetricsServer.start(options.metrics(), CollectorRegistry.defaultRegistry, ready::get);
        Endpoint advertise = options.advertise() != null ? options.advertise() : agent.endpoint();
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean stopping = new AtomicBoolean();
        Runnable stop = () -> {
            if (!stopping.compareAndSet(false, true)) return;
            log.info("stopping: no new connections, finishing requests in flight (at most {})", options.drainTimeout());
            ready.set(false);
            try {
                registration.stopping();
            } catch (RuntimeException e) {
                log.warn("registration failed to record the stop: {}", e.toString());
            }
            agent.drain(options.drainTimeout());
            metrics.close();
            log.info("stopped");
            stopped.countDown();
        };
        Signal.handle(new Signal("TERM"), sig -> new Thread(stop, "farmem-agent-stop").start());
        Signal.handle(new Signal("INT"), sig -> new Thread(stop, "farmem-agent-stop").start());

        started(registration, new AgentInfo(s.node(), agent.incarnation(), s.pool(), advertise, metrics.endpoint(), agent.store().capacity(), s.slabSize(),
                agent.store().slabCount(), agent.rdma() != null ? MemoryNodeStatus.RDMA_AND_TCP : MemoryNodeStatus.TCP, MemoryNodeAgent.VERSION,
                agent.store()::ownedSlabs));
        registration.ready();
        ready.set(true);
        log.info("serving on {} (advertised {}) as incarnation {}, metrics on http://{}/metrics, {} slabs, transport {} (tcp-{})", agent.endpoint(),
                advertise, Incarnation.format(agent.incarnation()), metrics.endpoint(), agent.store().slabCount(),
                agent.rdma() != null ? MemoryNodeStatus.RDMA_AND_TCP : MemoryNodeStatus.TCP, EventLoops.kind());
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        System.exit(0);
    }

    /** --transport rdma: RDMA beside TCP or stop; auto: RDMA where the probe finds it usable, else TCP only and why. */
    private static void serveRdma(MemoryNodeAgent agent, AgentOptions options) {
        if (options.transport().equals("tcp")) return;
        if (options.transport().equals("auto")) {
            RdmaSupport.Status probe = RdmaSupport.probe();
            if (!probe.available()) {
                log.info("transport auto: serving tcp only ({})", probe.reason());
                return;
            }
        }
        String host = options.advertise() != null ? options.advertise().host() : agent.endpoint().host();
        try {
            log.info("serving RDMA on {}", agent.serveRdma(host));
        } catch (IllegalStateException e) {
            if (options.transport().equals("rdma")) {
                agent.close();
                throw e;
            }
            log.warn("transport auto: RDMA could not be served on {} ({}); serving tcp only", host, e.getMessage());
        }
    }

    /** The first call to the API: a cluster that cannot be reached is a start-up error with its reason, not a stack trace. */
    private static void started(AgentRegistration registration, AgentInfo info) {
        try {
            registration.started(info);
        } catch (IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            throw new IllegalStateException("cannot register MemoryNode " + info.node() + " with the Kubernetes API: " + e.getMessage(), e);
        }
    }

    private static AgentRegistration registration(String mode) {
        boolean inCluster = System.getenv("KUBERNETES_SERVICE_HOST") != null;
        if (mode.equals("none") || (mode.equals("auto") && !inCluster)) return AgentRegistration.NONE;
        try {
            return (AgentRegistration) Class.forName(KUBERNETES_REGISTRATION).getConstructor().newInstance();
        } catch (ClassNotFoundException e) {
            if (mode.equals("kubernetes")) {
                throw new IllegalStateException("--registration kubernetes, but this build has no " + KUBERNETES_REGISTRATION);
            }
            log.warn("running in Kubernetes but this build has no {}: the MemoryNode status will not be written", KUBERNETES_REGISTRATION);
            return AgentRegistration.NONE;
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            throw new IllegalStateException("cannot register with Kubernetes: " + (cause.getMessage() != null ? cause.getMessage() : cause.toString()), cause);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot start Kubernetes registration: " + e, e);
        }
    }
}
