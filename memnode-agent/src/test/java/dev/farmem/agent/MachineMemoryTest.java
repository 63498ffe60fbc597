package dev.farmem.agent;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The machine's memory as the agent reads it from a cgroup tree (v2 and v1) and the OS total. */
class MachineMemoryTest {

    static final long GIB = 1L << 30;

    @Test
    void readsTheCgroupV2LimitAndTreatsMaxAsNone(@TempDir Path root) throws Exception {
        Files.writeString(root.resolve("memory.max"), "2147483648\n");
        assertThat(MachineMemory.read(root, 16 * GIB).cgroupLimit()).hasValue(2 * GIB);
        assertThat(MachineMemory.read(root, 16 * GIB).available()).isEqualTo(2 * GIB);
        Files.writeString(root.resolve("memory.max"), "max\n");
        assertThat(MachineMemory.read(root, 16 * GIB).cgroupLimit()).isEmpty();
        assertThat(MachineMemory.read(root, 16 * GIB).available()).isEqualTo(16 * GIB);
    }

    @Test
    void readsTheCgroupV1LimitAndTreatsItsHugeDefaultAsNone(@TempDir Path root) throws Exception {
        Files.createDirectories(root.resolve("memory"));
        Files.writeString(root.resolve("memory/memory.limit_in_bytes"), "1073741824\n");
        assertThat(MachineMemory.read(root, 16 * GIB).cgroupLimit()).hasValue(GIB);
        Files.writeString(root.resolve("memory/memory.limit_in_bytes"), "9223372036854771712\n");
        assertThat(MachineMemory.read(root, 16 * GIB).cgroupLimit()).isEmpty();
        assertThat(MachineMemory.read(root.resolve("nothing-here"), 16 * GIB).cgroupLimit()).isEmpty();
    }

    @Test
    void refusesACapacityTheLimitCannotHoldSayingWhatToChange() {
        MachineMemory container = new MachineMemory(16 * GIB, OptionalLong.of(2 * GIB));
        container.check(GIB, 128L << 20, true); // fits beside a 128 MiB heap
        assertThatThrownBy(() -> container.check(2 * GIB, 128L << 20, true))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("--capacity 2GiB cannot be given")
                .hasMessageContaining("memory limit (cgroup) is 2GiB")
                .hasMessageContaining("at most 1856MiB")
                .hasMessageContaining("raise the pod's memory limit");
        // A region on hugetlbfs is not counted by the memory cgroup: only the machine's total bounds it.
        container.check(4 * GIB, 128L << 20, false);
        assertThatThrownBy(() -> container.check(16 * GIB, 128L << 20, false))
                .hasMessageContaining("this machine has 16GiB of memory in all");
    }
}
