package dev.farmem.e2e.harness;

import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The addresses one local cluster hands out, all inside 127.0.0.0/8 (which Linux routes to lo, so a process can bind
 * any of them): a /16 for Service ClusterIPs and a /16 for pod IPs. Each cluster draws its own pair of blocks so
 * two clusters on one machine (a person's and a test run's) rarely share one.
 */
public final class LoopbackAddresses {
    private final int serviceBlock;
    private final int podBlock;
    private final AtomicInteger nextPod = new AtomicInteger();

    LoopbackAddresses(int serviceBlock, int podBlock) {
        if (serviceBlock == podBlock || serviceBlock < 1 || serviceBlock > 254 || podBlock < 1 || podBlock > 254) {
            throw new IllegalArgumentException("service and pod blocks must be distinct values in 1..254");
        }
        this.serviceBlock = serviceBlock;
        this.podBlock = podBlock;
    }

    static LoopbackAddresses random() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        return new LoopbackAddresses(100 + r.nextInt(50), 150 + r.nextInt(50));
    }

    /** The --service-cluster-ip-range: ClusterIPs are loopback addresses too, so dialling one never leaves lo. */
    public String serviceCidr() {
        return "127." + serviceBlock + ".0.0/16";
    }

    /** A pod IP not handed out before by this cluster: 127.podBlock.x.y with y in 1..254. */
    public String nextPodIp() {
        int n = nextPod.getAndIncrement();
        if (n >= 256 * 254) {
            throw new IllegalStateException("pod address block 127." + podBlock + ".0.0/16 is used up");
        }
        return "127." + podBlock + "." + (n / 254) + "." + (n % 254 + 1);
    }

    /** True for any address this harness may let a component dial: all of 127.0.0.0/8. */
    public static boolean isLoopback(String ip) {
        return ip != null && ip.startsWith("127.") && ip.chars().filter(c -> c == '.').count() == 3;
    }
}
