#include "proc_stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace bench {

std::optional<uint64_t> read_rss_kib(long pid) {
  if (pid <= 0)
    return std::nullopt;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.starts_with("VmRSS:")) {
      std::istringstream is(line.substr(6));
      uint64_t kib = 0;
      is >> kib;
      return kib;
    }
  }
  return std::nullopt;
}

std::optional<double> read_cpu_s(long pid) {
  if (pid <= 0)
    return std::nullopt;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t rp = s.rfind(')');
  if (rp == std::string::npos || rp + 2 > s.size())
    return std::nullopt;
  std::istringstream is(s.substr(rp + 2));
  // Fields from 3 (state) on; utime is field 14, stime 15.
  std::string tok;
  uint64_t utime = 0, stime = 0;
  for (int field = 3; field <= 15 && (is >> tok); ++field) {
    if (field == 14)
      utime = std::strtoull(tok.c_str(), nullptr, 10);
    if (field == 15)
      stime = std::strtoull(tok.c_str(), nullptr, 10);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::optional<uint64_t> read_rss_kib(const std::vector<long>& pids) {
  if (pids.empty())
    return std::nullopt;
  uint64_t sum = 0;
  for (long p : pids) {
    auto v = read_rss_kib(p);
    if (!v)
      return std::nullopt;
    sum += *v;
  }
  return sum;
}

std::optional<double> read_cpu_s(const std::vector<long>& pids) {
  if (pids.empty())
    return std::nullopt;
  double sum = 0;
  for (long p : pids) {
    auto v = read_cpu_s(p);
    if (!v)
      return std::nullopt;
    sum += *v;
  }
  return sum;
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

kernel_memory read_kernel_memory() {
  kernel_memory m;
  {
    std::ifstream f("/proc/net/sockstat");
    std::string line;
    while (std::getline(f, line)) {
      if (!line.starts_with("TCP:"))
        continue;
      std::istringstream is(line.substr(4));
      std::string k;
      long v = 0;
      while (is >> k >> v)
        if (k == "mem")
          m.tcp_buffers = static_cast<double>(v) * static_cast<double>(sysconf(_SC_PAGESIZE));
    }
  }
  {
    std::ifstream f("/proc/meminfo");
    std::string line;
    while (std::getline(f, line)) {
      if (line.starts_with("Slab:")) {
        std::istringstream is(line.substr(5));
        double kib = 0;
        is >> kib;
        m.slab = kib * 1024.0;
      }
    }
  }
  return m;
}

long raise_nofile_limit(long want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return 0;
  rlim_t target = static_cast<rlim_t>(want);
  if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
    target = rl.rlim_max;
  if (rl.rlim_cur < target) {
    rl.rlim_cur = target;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return static_cast<long>(rl.rlim_cur);
}

}  // namespace bench
