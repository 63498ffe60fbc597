/**
 * Sidecar mode: one process (the sidecar, {@link dev.farmem.client.sidecar.Sidecar}) owns the
 * claim's connections, tokens, fetch, eviction, write-back, prefetch and metrics; application
 * processes ({@link dev.farmem.client.sidecar.SidecarClient}, used through
 * {@code FarMemory.attach}) map the same cache and keep their hits local.
 *
 * <h2>Shared memory</h2>
 * Two files and a socket in one directory on a tmpfs ({@code /dev/shm/...}, or a pod's emptyDir
 * with medium Memory mounted in both containers):
 * <ul>
 * <li>{@code cache.region}: a {@link dev.farmem.client.cache.CacheRegion} (frame headers,
 *     block table, frame data), the very same layout the in-process mode allocates off-heap.
 *     One cache implementation, two ways to back it.</li>
 * <li>{@code control}: {@link dev.farmem.client.sidecar.SharedControl}. A 4 KiB header the
 *     sidecar writes (geometry, claim, epoch, pid / PID namespace / start time, heartbeat,
 *     published counters); one 128-byte lease per application process (owner token, pid,
 *     heartbeat, its hit and dirty counters); one 512-byte request slot per application thread:
 *     request line (sequence, op, block, hazard index, "sleeping" flag), response line
 *     (sequence, result, error message) and 4 hazards, each on its own cache line. A slot is a
 *     single-producer mailbox of depth one (a thread waits for its miss), so threads never
 *     contend on a shared ring.</li>
 * <li>{@code doorbell}: a UNIX domain socket ({@link dev.farmem.client.sidecar.DoorbellServer}).
 *     It carries wake-ups only, one byte each way, the job of an eventfd that two processes
 *     cannot share without passing descriptors.</li>
 * </ul>
 *
 * <h2>Who does what</h2>
 * The application reads hits optimistically (block table lookup, frame version check), exactly
 * as in-process. To write, it publishes the frame in a hazard of its thread (volatile store),
 * then checks the frame is not {@code EXCLUSIVE} and still holds the block (volatile loads),
 * writes the data, sets the dirty bits (release), and clears the hazard (release). It never
 * touches the frame's pin count. Misses and flushes go to the sidecar: the thread writes its
 * request and then its sequence number (release), writes a byte on its doorbell, spins for
 * about one miss ({@link dev.farmem.client.engine.BlockCache#MISS_SPIN_NANOS}, as an
 * in-process miss does), then sets its sleeping flag, reads the response sequence again and
 * sleeps on the doorbell; the sidecar writes the answer, then reads the flag and, if set,
 * writes a byte back (Dekker: one of the two sees the other).
 *
 * <p>Only the sidecar loads, evicts, writes back and prefetches, all through the ordinary
 * {@link dev.farmem.client.engine.CacheEngine}. Its doorbells are served on the event loop that
 * also runs its connections to the memory nodes: a bell starts the miss there without blocking
 * ({@code CacheEngine.pinAsync}), and the same thread, reading the node's response, answers the
 * application. Flushes, and the rare misses that must wait (their block being loaded, or no
 * clean frame), go to worker threads. Inside the sidecar each job is one class confined to one
 * thread (the table in {@link dev.farmem.client.sidecar.Sidecar}'s javadoc), and whether a
 * sidecar runs is decided by {@link dev.farmem.client.sidecar.SidecarLiveness} alone.
 *
 * <h2>Polling instead of wake-ups</h2>
 * On a virtual machine, waking a thread from its select costs some 10 to 15 us, a third of a
 * miss; with doorbells alone a sidecar miss pays it twice more than an in-process one (the
 * sidecar woken by the bell, then by the node's answer). So after the loop starts or answers a
 * request it keeps polling the slots and its connections, without sleeping, while a miss it
 * started is being fetched and for {@code --poll-micros} (100 us) after, and says so in a flag of
 * the control header. A thread that posts a request reads the flag (after a full fence) and rings
 * no bell while it is set; the loop clears it (full fence) and then looks at every slot once more,
 * so one of the two always sees the other. A thread that ends up sleeping rings first, so its
 * doorbell is connected for the answer's wake-up (and rings again every 20 ms it waits: a bell
 * only makes the sidecar look at the slot, so no race can leave a request unseen). It polls only for a thread that has the sidecar to itself:
 * with two misses out, or requests from two threads in the last 10 ms, the loop sleeps between
 * events again, since a loop that never sleeps takes a core from the threads it serves. The price
 * is CPU while a lone thread's misses come faster than the window; {@code --poll-micros 0}
 * turns polling off.
 *
 * <h2>Eviction never takes a frame an application uses</h2>
 * Hazard pointers, Dekker style: the evictor makes the frame {@code EXCLUSIVE} (a CAS, a full
 * fence) and then reads every leased thread's hazards ({@link
 * dev.farmem.client.cache.CacheRegion.FrameGuard}); the application stores its hazard and then
 * reads the frame state. One of the two sees the other: the evictor backs off, or the
 * application retries through the sidecar. A miss answer carries the frame in a hazard the
 * sidecar sets (a CAS from the request's reservation, {@code seq << 32}) while it still holds its
 * own pin, so the frame is covered from fetch to use. A reservation that no longer matches
 * (the application gave up and moved on) makes the answer a no-op.
 *
 * <h2>An application crashes</h2>
 * It holds no pin count, only hazards in its own lease. The sidecar's housekeeper reclaims a
 * lease when the process is gone: at once when it shares the sidecar's PID namespace (same
 * machine, or a pod with {@code shareProcessNamespace}; identity is pid + start time), or when
 * its heartbeat is older than the lease timeout otherwise. Reclaiming clears its hazards and
 * slots; its dirty lines stay in the cache and are written back like anyone's. A live process
 * in the same namespace is never reclaimed, however late its heartbeat.
 *
 * <h2>The sidecar crashes</h2>
 * Applications see it at once in a shared PID namespace (the recorded process is gone) or
 * when its heartbeat is older than the sidecar timeout; waiting misses and flushes then throw
 * {@link dev.farmem.client.sidecar.SidecarUnavailableException}, hits go on. A sidecar
 * started again over the same directory re-attaches to the same files (same claim uid and
 * geometry): frames a crash left half loaded (odd version) are dropped, frames whose
 * write-back was in flight are marked wholly dirty (the mask it had taken is lost, the agents
 * may miss lines), pins are cleared, the block table is rebuilt from the tags, a new epoch is
 * published, and requests still pending are served. Every line written before the crash is
 * still in the shared cache, so nothing a {@code flush()} acknowledged, and nothing written at
 * all, is lost.
 *
 * <h2>Tokens</h2>
 * The sidecar polls the binding (the mounted Secret); when the tokens or endpoints of the same
 * claim change, it rebuilds the engine over the same region with new connections. Lines the old
 * tokens could not write back stay dirty and go out with the new ones.
 */
package dev.farmem.client.sidecar;
