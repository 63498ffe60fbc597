package dev.farmem.agent;

import dev.farmem.common.Endpoint;
import java.util.function.IntSupplier;

/**
 * What a started agent tells its registration: who it is (node name and incarnation), where clients and Prometheus reach it,
 * its region, what it serves ({@code MemoryNodeStatus.TCP} or {@code RDMA_AND_TCP}), and a live count of owned slabs for status updates.
 */
public record AgentInfo(String node, long incarnation, String pool, Endpoint advertised, Endpoint metrics, long capacityBytes, long slabSize,
                        int slabCount, String transport, String version, IntSupplier slabsOwned) {}
