// What the generator reads from /proc about the server process, the kernel and itself.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace bench {

// VmRSS of a process, KiB; nullopt when pid <= 0 or the process is gone.
std::optional<uint64_t> read_rss_kib(long pid);
// The sum over processes; nullopt when the list is empty or any process is gone.
std::optional<uint64_t> read_rss_kib(const std::vector<long>& pids);

// utime + stime of a whole process (all threads) from /proc/PID/stat, in seconds (10 ms ticks).
std::optional<double> read_cpu_s(long pid);
std::optional<double> read_cpu_s(const std::vector<long>& pids);

// The generator's own user + system CPU time, seconds.
double self_cpu_s();

// Kernel memory held for sockets: the TCP "mem" pages of /proc/net/sockstat (buffers) and the
// "Slab:" of /proc/meminfo (socket structs, inodes, ...), in bytes. Machine-wide: on loopback they
// include both ends of every connection.
struct kernel_memory {
  double tcp_buffers = -1;
  double slab = -1;
};
kernel_memory read_kernel_memory();

// Raises RLIMIT_NOFILE to min(hard limit, want) and returns the soft limit now in force.
long raise_nofile_limit(long want);

}  // namespace bench
