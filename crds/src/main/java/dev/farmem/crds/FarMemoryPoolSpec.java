package dev.farmem.crds;

import io.fabric8.generator.annotation.Default;
import io.fabric8.generator.annotation.Max;
import io.fabric8.generator.annotation.Min;
import io.fabric8.generator.annotation.Pattern;
import io.fabric8.generator.annotation.Required;
import io.fabric8.generator.annotation.ValidationRule;
import io.fabric8.kubernetes.api.model.ResourceRequirements;
import io.fabric8.kubernetes.api.model.Toleration;
import java.util.List;
import java.util.Map;

/**
 * What a pool wants. Sizes are in bytes so that the API server itself can check that they are
 * multiples of the slab size (CEL has no quantity arithmetic on every supported version).
 */
@ValidationRule(value = "self.capacity.perNodeBytes % self.slabSizeBytes == 0",
        message = "capacity.perNodeBytes must be a multiple of slabSizeBytes", fieldPath = ".capacity.perNodeBytes",
        reason = "FieldValueInvalid")
@ValidationRule(value = "!has(self.capacity.totalBytes) || self.capacity.totalBytes % self.slabSizeBytes == 0",
        message = "capacity.totalBytes must be a multiple of slabSizeBytes", fieldPath = ".capacity.totalBytes",
        reason = "FieldValueInvalid")
@ValidationRule(value = "self.slabSizeBytes == oldSelf.slabSizeBytes",
        message = "slabSizeBytes cannot change after creation: claims hold slabs of this size; create a new pool instead",
        fieldPath = ".slabSizeBytes", reason = "FieldValueForbidden")
@ValidationRule(value = "self.capacity.perNodeBytes == oldSelf.capacity.perNodeBytes",
        message = "capacity.perNodeBytes cannot change after creation: running agents serve regions of this size; scale with totalBytes or nodes instead",
        fieldPath = ".capacity.perNodeBytes", reason = "FieldValueForbidden")
public class FarMemoryPoolSpec {

    @Required
    public Capacity capacity;

    /** The unit of allocation: every claim gets whole slabs. */
    @Default("67108864")
    @Min(1048576)
    @Max(1073741824)
    @ValidationRule(value = "self % 1048576 == 0", message = "slabSizeBytes must be a multiple of 1 MiB (1048576)",
            reason = "FieldValueInvalid")
    public Long slabSizeBytes = 67108864L;

    /** Only nodes with all these labels get an agent. */
    public Map<String, String> nodeSelector;

    /** Taints of nodes that agents tolerate; a node with any other NoSchedule/NoExecute taint is not used. */
    public List<Toleration> tolerations;

    /** Node label to spread agents over (zone or rack); replicas of a slab go to distinct values when there are enough. */
    @Default("topology.kubernetes.io/zone")
    public String topologyKey = "topology.kubernetes.io/zone";

    public Agent agent;

    /** How clients reach the agents: tcp, rdma, or auto (RDMA where the device exists, else TCP). */
    @Default("tcp")
    @Pattern("^(tcp|rdma|auto)$")
    public String transport = "tcp";

    /**
     * The extended resource of the RDMA device plugin that agent pods request when the transport is rdma or auto.
     * Omitted: the operator's default (the chart's rdma.resourceName when rdma.enabled, FARMEM_RDMA_RESOURCE).
     */
    @Pattern("^[a-z0-9.-]+/[a-zA-Z0-9_.-]+$")
    public String rdmaResource;

    public Hugepages hugepages;

    /**
     * How long the tokens in a claim's binding live, in seconds. The operator renews them through the binding Secret once
     * they are past half their life, and a running client picks the new ones up. An agent never learns that a claim was
     * deleted: its tokens stop working at most this long after the deletion (plus the clock difference between the
     * operator's and the agents' machines). At least 60, so a quarter of it covers the kubelet's refresh of a mounted Secret.
     */
    @Default("600")
    @Min(60)
    @Max(2592000)
    public Integer tokenTtlSeconds = 600;

    public static class Capacity {
        /** The region each agent serves. */
        @Required
        @Min(1048576)
        public Long perNodeBytes;

        /** The pool's target size: the operator runs ceil(totalBytes / perNodeBytes) agents. Omit to run on every eligible node. */
        @Min(1048576)
        public Long totalBytes;

        /** Fewer Ready memory nodes than this and the pool is not Ready. */
        @Default("1")
        @Min(1)
        public Integer minNodes = 1;

        /** Never more agents than this. */
        @Min(1)
        public Integer maxNodes;
    }

    public static class Agent {
        /** Omitted: the operator's default (the chart's images.agent, FARMEM_AGENT_IMAGE). */
        public String image;

        /** Omitted: the operator's default (the chart's images.pullPolicy, FARMEM_IMAGE_PULL_POLICY). */
        @Pattern("^(Always|IfNotPresent|Never)$")
        public String imagePullPolicy;

        /** Requests and limits of the agent container; memory is raised to hold the region when set lower. */
        public ResourceRequirements resources;

        /** The data port clients connect to. */
        @Default("7070")
        @Min(1)
        @Max(65535)
        public Integer port = 7070;

        /** The port of /metrics, /healthz and /readyz. */
        @Default("9090")
        @Min(1)
        @Max(65535)
        public Integer metricsPort = 9090;
    }

    public static class Hugepages {
        /** Back the region with hugepages of this size (the node must have them allocatable). */
        @Required
        @Pattern("^(2Mi|1Gi)$")
        public String pageSize;
    }
}
