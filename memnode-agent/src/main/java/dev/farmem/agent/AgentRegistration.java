package dev.farmem.agent;

/**
 * Where an agent announces itself: in Kubernetes, its MemoryNode status and Lease
 * ({@code dev.farmem.agent.registration.KubernetesRegistration}, loaded by name with its public
 * no-argument constructor when the agent runs in a cluster); elsewhere {@link #NONE}.
 * Calls come in this order from the agent's main thread or its signal handler; an exception
 * from {@code started} or {@code ready} stops the agent, one from {@code stopping} is logged.
 */
public interface AgentRegistration {

    /** The region is allocated and the data port listens. */
    void started(AgentInfo info);

    /** The agent serves requests; readiness turns true after this returns. */
    void ready();

    /** SIGTERM: readiness is already false; the agent drains after this returns. */
    void stopping();

    /** Not in Kubernetes: nothing to announce. */
    AgentRegistration NONE = new AgentRegistration() {
        @Override public void started(AgentInfo info) {}
        @Override public void ready() {}
        @Override public void stopping() {}
    };
}
