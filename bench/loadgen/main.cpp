// switchboard-loadgen: an SSE load generator for Switchboard and any other SSE server reachable
// through URL templates (nginx + nchan in bench/run.sh).
//
// One thread, one epoll instance, non-blocking sockets. Client sockets are spread over source
// addresses 127.0.0.2, 127.0.0.3, ... (bind() with IP_BIND_ADDRESS_NO_PORT) so ephemeral ports
// never run out, and RLIMIT_NOFILE is raised to the hard limit.
//
//   idle   --sub-url T -n N --pid P                      RSS per idle SSE connection
//   fanout --sub-url T --pub-url T -n N --rate R|max --duration S --size B --pid P
//                                                        fan-out throughput, latency, CPU
//
// See docs/benchmarks.md and `switchboard-loadgen --help`.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "histogram.hpp"
#include "http_reader.hpp"
#include "sse_parser.hpp"

namespace loadgen {
namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

constexpr uint64_t kSec = UINT64_C(1000000000);

uint64_t secs_to_ns(double s) {
  return static_cast<uint64_t>(s * 1e9);
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string mode;
  std::string sub_url;
  std::string pub_url;
  std::string topic = "bench";
  long n = 1000;
  bool max_rate = false;
  double rate = 10;
  double duration = 10;
  long size = 64;
  long pid = 0;
  std::string json_path;
  std::string label;
  std::string src_base = "127.0.0.2";
  long per_src = 1000;
  long connect_concurrency = 256;
  double connect_timeout = 120;
  double settle = -1;  // idle: 3 s, fanout: 1 s
  double hold = 0;
  long pub_conns = 0;  // rate: 1, max: 4
  long pipeline = 0;   // rate: 100000 (no limit), max: 32
  long max_lag = 64;   // max: messages in flight per subscriber
  double drain = 10;
  bool quiet = false;
};

const char* kUsage = R"(usage:
  switchboard-loadgen idle   --sub-url URL -n N [--pid PID] [options]
  switchboard-loadgen fanout --sub-url URL --pub-url URL -n N --rate R|max --duration S
                             [--size B] [--pid PID] [options]

URL templates are http://HOST:PORT/path?query; "{topic}" is replaced by --topic (default bench).
  Switchboard: --sub-url 'http://127.0.0.1:8080/v1/events?topic={topic}'
               --pub-url 'http://127.0.0.1:8080/v1/topics/{topic}'

common options:
  -n N                      SSE subscribers to open (default 1000)
  --pid PID                 server process to measure (VmRSS, utime+stime); 0 = none
  --json FILE               also write the results as a flat JSON object
  --label TEXT              copied into the summary and the JSON
  --topic NAME              topic substituted for {topic} (default bench)
  --src-base A.B.C.D        first client source address (default 127.0.0.2)
  --per-src N               connections per source address (default 1000)
  --connect-concurrency N   connection attempts in flight (default 256)
  --connect-timeout S       give up opening connections after S seconds (default 120)
  --settle S                wait after connecting (default: idle 3, fanout 1)
  --hold S                  idle: keep the connections S more seconds after measuring
fanout options:
  --rate R|max              messages per second, or "max": closed loop, as fast as delivery
                            keeps up (default 10)
  --duration S              publishing time in seconds (default 10)
  --size B                  message data bytes, >= 24; data starts with the CLOCK_MONOTONIC
                            publish time in ns (default 64)
  --pub-conns N             keep-alive publisher connections (default: 1, max: 4)
  --pipeline N              requests in flight per publisher connection (default: unbounded,
                            max: 32)
  --max-lag M               max: stop publishing while published*subscribers - received exceeds
                            M*subscribers (default 64)
  --drain S                 after publishing, wait at most S seconds for deliveries (default 10)
)";

bool parse_long(std::string_view s, long& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}
bool parse_double(const std::string& s, double& out) {
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

std::optional<Options> parse_args(int argc, char** argv) {
  if (argc < 2)
    return std::nullopt;
  Options o;
  o.mode = argv[1];
  if (o.mode == "-h" || o.mode == "--help")
    return std::nullopt;
  if (o.mode != "idle" && o.mode != "fanout") {
    std::fprintf(stderr, "unknown subcommand: %s\n", o.mode.c_str());
    return std::nullopt;
  }
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    auto num = [&](long& out) {
      auto v = value();
      if (!v || !parse_long(*v, out)) {
        std::fprintf(stderr, "%s: expected an integer\n", a.c_str());
        return false;
      }
      return true;
    };
    auto real = [&](double& out) {
      auto v = value();
      if (!v || !parse_double(*v, out) || out < 0) {
        std::fprintf(stderr, "%s: expected a non-negative number\n", a.c_str());
        return false;
      }
      return true;
    };
    auto str = [&](std::string& out) {
      auto v = value();
      if (!v)
        return false;
      out = *v;
      return true;
    };
    bool ok = true;
    if (a == "--sub-url")
      ok = str(o.sub_url);
    else if (a == "--pub-url")
      ok = str(o.pub_url);
    else if (a == "--topic")
      ok = str(o.topic);
    else if (a == "-n" || a == "--connections")
      ok = num(o.n);
    else if (a == "--rate") {
      auto v = value();
      ok = v.has_value();
      if (ok && *v == "max") {
        o.max_rate = true;
      } else if (ok) {
        ok = parse_double(*v, o.rate) && o.rate > 0;
        if (!ok)
          std::fprintf(stderr, "--rate: expected a positive number or max\n");
      }
    } else if (a == "--duration")
      ok = real(o.duration);
    else if (a == "--size")
      ok = num(o.size);
    else if (a == "--pid")
      ok = num(o.pid);
    else if (a == "--json")
      ok = str(o.json_path);
    else if (a == "--label")
      ok = str(o.label);
    else if (a == "--src-base")
      ok = str(o.src_base);
    else if (a == "--per-src")
      ok = num(o.per_src);
    else if (a == "--connect-concurrency")
      ok = num(o.connect_concurrency);
    else if (a == "--connect-timeout")
      ok = real(o.connect_timeout);
    else if (a == "--settle")
      ok = real(o.settle);
    else if (a == "--hold")
      ok = real(o.hold);
    else if (a == "--pub-conns")
      ok = num(o.pub_conns);
    else if (a == "--pipeline")
      ok = num(o.pipeline);
    else if (a == "--max-lag")
      ok = num(o.max_lag);
    else if (a == "--drain")
      ok = real(o.drain);
    else if (a == "--quiet")
      o.quiet = true;
    else if (a == "-h" || a == "--help")
      return std::nullopt;
    else {
      std::fprintf(stderr, "unknown option: %s\n", a.c_str());
      return std::nullopt;
    }
    if (!ok)
      return std::nullopt;
  }
  if (o.sub_url.empty()) {
    std::fprintf(stderr, "--sub-url is required\n");
    return std::nullopt;
  }
  if (o.mode == "fanout" && o.pub_url.empty()) {
    std::fprintf(stderr, "--pub-url is required for fanout\n");
    return std::nullopt;
  }
  if (o.n < 1 || o.per_src < 1 || o.connect_concurrency < 1 || o.max_lag < 1) {
    std::fprintf(stderr, "-n, --per-src, --connect-concurrency and --max-lag must be >= 1\n");
    return std::nullopt;
  }
  if (o.size < 24 || o.size > 16 * 1024 * 1024) {
    std::fprintf(stderr, "--size must be in [24, 16777216]\n");
    return std::nullopt;
  }
  if (o.settle < 0)
    o.settle = o.mode == "idle" ? 3.0 : 1.0;
  if (o.pub_conns <= 0)
    o.pub_conns = o.max_rate ? 4 : 1;
  if (o.pipeline <= 0)
    o.pipeline = o.max_rate ? 32 : 100000;
  return o;
}

// ---------------------------------------------------------------------------------------------
// Measuring the server process

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

// utime + stime of the whole process (all threads), in seconds.
std::optional<double> read_cpu_s(long pid) {
  if (pid <= 0)
    return std::nullopt;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t rp = s.rfind(')');
  if (rp == std::string::npos)
    return std::nullopt;
  std::istringstream is(s.substr(rp + 2));
  // fields from 3 (state) on; utime is field 14, stime 15.
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

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return tv(ru.ru_utime) + tv(ru.ru_stime);
}

void raise_nofile_limit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

long nofile_limit() {
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  return static_cast<long>(rl.rlim_cur);
}

// ---------------------------------------------------------------------------------------------
// Connections

enum class Role : uint8_t { Sub, Pub };
enum class Phase : uint8_t { Idle, Connecting, Head, Streaming, Ready, Dead };

struct Conn {
  explicit Conn(Role r, uint32_t i) : role(r), index(i) {}
  Role role;
  Phase phase = Phase::Idle;
  uint32_t index;
  uint32_t gen = 0;  // bumped on every (re)open so stale epoll events are recognised
  int fd = -1;
  uint32_t mask = 0;  // epoll events registered
  int attempts = 0;
  int status = 0;  // status of the response being read (publisher)
  uint32_t outstanding = 0;
  uint64_t received = 0;
  size_t out_off = 0;
  std::string out;
  ResponseReader reader;
  SseParser sse;
};

class Runner {
 public:
  explicit Runner(Options o) : o_(std::move(o)) {}

  int run() {
    auto su = parse_url(o_.sub_url, o_.topic);
    if (!su)
      return fatal("bad --sub-url (expected http://IPv4:PORT/path): " + o_.sub_url);
    sub_url_ = *su;
    if (!to_addr(sub_url_, sub_addr_))
      return fatal("bad --sub-url host: " + sub_url_.host);
    if (o_.mode == "fanout") {
      auto pu = parse_url(o_.pub_url, o_.topic);
      if (!pu)
        return fatal("bad --pub-url (expected http://IPv4:PORT/path): " + o_.pub_url);
      pub_url_ = *pu;
      if (!to_addr(pub_url_, pub_addr_))
        return fatal("bad --pub-url host: " + pub_url_.host);
    }
    in_addr base{};
    if (inet_pton(AF_INET, o_.src_base.c_str(), &base) != 1)
      return fatal("bad --src-base: " + o_.src_base);
    src_base_ = ntohl(base.s_addr);

    raise_nofile_limit();
    long need = o_.n + o_.pub_conns + 16;
    if (nofile_limit() < need)
      return fatal("RLIMIT_NOFILE " + std::to_string(nofile_limit()) + " is below the " +
                   std::to_string(need) + " descriptors needed");

    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0)
      return fatal(std::string("epoll_create1: ") + std::strerror(errno));
    rbuf_.resize(256 * 1024);

    sub_request_ = "GET " + sub_url_.target + " HTTP/1.1\r\nHost: " + sub_url_.host_header +
                   "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
                   "User-Agent: switchboard-loadgen\r\n\r\n";
    conns_.reserve(static_cast<size_t>(o_.n + o_.pub_conns));
    for (long i = 0; i < o_.n; ++i)
      conns_.push_back(std::make_unique<Conn>(Role::Sub, static_cast<uint32_t>(conns_.size())));

    int rc = o_.mode == "idle" ? run_idle() : run_fanout();
    for (auto& c : conns_)
      if (c->fd >= 0)
        ::close(c->fd);
    ::close(ep_);
    return rc;
  }

 private:
  static bool to_addr(const Url& u, sockaddr_in& a) {
    a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons(u.port);
    return inet_pton(AF_INET, u.host.c_str(), &a.sin_addr) == 1;
  }

  int fatal(const std::string& msg) {
    std::fprintf(stderr, "switchboard-loadgen: %s\n", msg.c_str());
    return 2;
  }

  void note_error(const std::string& msg) {
    ++errors_;
    if (first_error_.empty())
      first_error_ = msg;
  }

  void log(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (o_.quiet)
      return;
    va_list ap;
    va_start(ap, fmt);
    std::fprintf(stderr, "[loadgen %7.2fs] ", static_cast<double>(now_ns() - start_) / 1e9);
    std::vfprintf(stderr, fmt, ap);
    std::fputc('\n', stderr);
    va_end(ap);
  }

  // --- socket plumbing -----------------------------------------------------------------------

  uint64_t key(const Conn& c) const { return (static_cast<uint64_t>(c.gen) << 32) | c.index; }

  void set_mask(Conn& c, uint32_t mask) {
    if (mask == c.mask)
      return;
    epoll_event ev{};
    ev.events = mask;
    ev.data.u64 = key(c);
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.mask = mask;
  }

  uint32_t next_source() {
    uint32_t addr =
        src_base_ + static_cast<uint32_t>(src_assigned_ / static_cast<uint64_t>(o_.per_src));
    ++src_assigned_;
    return addr;
  }

  // Starts a non-blocking connect. Returns false when the socket could not even be created.
  bool open(Conn& c) {
    const sockaddr_in& dst = c.role == Role::Sub ? sub_addr_ : pub_addr_;
    ++c.attempts;
    ++c.gen;
    c.mask = 0;
    c.out.clear();
    c.out_off = 0;
    c.outstanding = 0;
    c.reader = ResponseReader();
    c.sse.reset();
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c.phase = Phase::Connecting;
    if (fd < 0) {
      note_error(std::string("socket: ") + std::strerror(errno));
      mark_dead(c);
      return false;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    uint32_t src = next_source();
    bool loopback = (ntohl(dst.sin_addr.s_addr) >> 24) == 127;
    if (loopback && (src >> 24) == 127) {  // spread over loopback source addresses
      setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(src);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
        note_error(std::string("bind: ") + std::strerror(errno));
        ::close(fd);
        mark_dead(c);
        return false;
      }
    }
    c.fd = fd;
    epoll_event ev{};
    ev.events = EPOLLOUT;
    ev.data.u64 = key(c);
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
    c.mask = EPOLLOUT;
    int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst);
    if (r != 0 && errno != EINPROGRESS) {
      int err = errno;
      fail_connect(c, err);
      return true;
    }
    return true;
  }

  void close_fd(Conn& c) {
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      ::close(c.fd);
    }
    c.fd = -1;
    c.mask = 0;
  }

  void fail_connect(Conn& c, int err) {
    close_fd(c);
    if (c.attempts < 3 && (err == ECONNREFUSED || err == ETIMEDOUT || err == EADDRNOTAVAIL ||
                           err == ECONNRESET || err == EAGAIN)) {
      c.phase = Phase::Idle;
      retry_.push_back({c.index, now_ns() + kSec / 10 * static_cast<uint64_t>(c.attempts)});
      return;
    }
    note_error(std::string("connect: ") + std::strerror(err));
    mark_dead(c);
  }

  // The connection is finished for good.
  void mark_dead(Conn& c) {
    Phase was = c.phase;
    close_fd(c);
    c.phase = Phase::Dead;
    if (c.role == Role::Sub) {
      if (was == Phase::Streaming) {
        --subs_ready_;
        ++subs_closed_;
      } else {
        --connects_in_flight_;
        ++subs_failed_;
      }
    } else {
      if (c.outstanding) {
        pub_lost_ += c.outstanding;
        c.outstanding = 0;
      }
      if (was == Phase::Connecting)
        --pubs_connecting_;
      if (was == Phase::Ready)
        --pubs_ready_;
    }
  }

  void flush(Conn& c) {
    while (c.out_off < c.out.size()) {
      ssize_t w = ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (w > 0) {
        c.out_off += static_cast<size_t>(w);
        continue;
      }
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_mask(c, EPOLLIN | EPOLLOUT);
        return;
      }
      note_error(std::string("send: ") + std::strerror(errno));
      mark_dead(c);
      return;
    }
    c.out.clear();
    c.out_off = 0;
    set_mask(c, EPOLLIN);
  }

  void on_connected(Conn& c) {
    if (c.role == Role::Sub) {
      c.phase = Phase::Head;
      c.out = sub_request_;
    } else {
      c.phase = Phase::Ready;
      --pubs_connecting_;
      ++pubs_ready_;
    }
    flush(c);
  }

  // --- reading -------------------------------------------------------------------------------

  struct SubHandler {
    Runner& r;
    Conn& c;
    bool on_head(const ResponseHead& h) {
      if (h.status != 200) {
        r.note_error("subscribe: HTTP " + std::to_string(h.status) + ": " +
                     h.raw.substr(0, h.raw.find("\r\n")));
        return false;
      }
      if (!icontains(h.content_type, "text/event-stream")) {
        r.note_error("subscribe: Content-Type is not text/event-stream: " + h.content_type);
        return false;
      }
      c.phase = Phase::Streaming;
      --r.connects_in_flight_;
      ++r.subs_ready_;
      return true;
    }
    void on_body(std::string_view b) {
      c.sse.feed(b, [this](const SseEvent& ev) { r.on_event(c, ev); });
    }
    void on_complete() { ended = true; }
    bool ended = false;
  };

  struct PubHandler {
    Runner& r;
    Conn& c;
    bool on_head(const ResponseHead& h) {
      c.status = h.status;
      if (h.status < 200 || h.status > 299)
        r.note_error("publish: HTTP " + std::to_string(h.status) + ": " +
                     h.raw.substr(0, h.raw.find("\r\n")));
      if (h.close)
        close_after = true;
      return true;
    }
    void on_body(std::string_view) {}
    void on_complete() {
      if (c.outstanding)
        --c.outstanding;
      if (c.status >= 200 && c.status <= 299) {
        ++r.pub_ok_;
        r.last_ack_ns_ = r.read_now_;
      } else {
        ++r.pub_err_;
      }
    }
    bool close_after = false;
  };

  void on_event(Conn& c, const SseEvent& ev) {
    std::string_view d = ev.data;
    uint64_t ts = 0;
    size_t i = 0;
    while (i < d.size() && i < 20 && d[i] >= '0' && d[i] <= '9')
      ts = ts * 10 + (d[i++] - '0');
    if (i == 0) {
      ++other_events_;
      return;
    }
    if (!measuring_ || ts < t0_) {
      ++stale_;
      return;
    }
    ++received_;
    ++c.received;
    hist_.record(read_now_ > ts ? read_now_ - ts : 0);
    last_delivery_ns_ = read_now_;
  }

  void on_readable(Conn& c) {
    ssize_t n = ::recv(c.fd, rbuf_.data(), rbuf_.size(), 0);
    read_now_ = now_ns();  // receive time of every event in this read (vDSO clock: ~20 ns)
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
      return;
    if (n <= 0) {
      if (c.role == Role::Sub && c.phase == Phase::Head) {
        note_error(n == 0 ? "subscribe: connection closed before the response head"
                          : std::string("subscribe: recv: ") + std::strerror(errno));
      } else if (c.role == Role::Sub && stop_reading_) {
        // closing at the end of the run
      } else if (c.role == Role::Sub) {
        note_error(n == 0 ? "subscriber stream closed by the server"
                          : std::string("subscriber recv: ") + std::strerror(errno));
      } else if (c.outstanding || publishing_) {
        note_error(n == 0 ? "publisher connection closed by the server"
                          : std::string("publisher recv: ") + std::strerror(errno));
      }
      mark_dead(c);
      return;
    }
    std::string_view data(rbuf_.data(), static_cast<size_t>(n));
    if (c.role == Role::Sub) {
      SubHandler h{*this, c};
      bool ok = c.reader.feed(data, h);
      if (!ok) {
        if (c.reader.error() != "aborted by handler")
          note_error("subscribe: " + c.reader.error());
        mark_dead(c);
      } else if (h.ended) {
        note_error("subscriber stream ended by the server");
        mark_dead(c);
      }
    } else {
      PubHandler h{*this, c};
      bool ok = c.reader.feed(data, h);
      if (!ok) {
        note_error("publish: " + c.reader.error());
        mark_dead(c);
      } else if (h.close_after && c.outstanding == 0) {
        mark_dead(c);
      }
    }
  }

  void on_event_ready(uint64_t k, uint32_t events) {
    auto index = static_cast<uint32_t>(k & 0xffffffffu);
    auto gen = static_cast<uint32_t>(k >> 32);
    if (index >= conns_.size())
      return;
    Conn& c = *conns_[index];
    if (c.gen != gen || c.fd < 0)
      return;  // stale event for a closed or reopened socket
    if (c.phase == Phase::Connecting) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        fail_connect(c, err);
        return;
      }
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
        on_connected(c);
      return;
    }
    if (events & EPOLLOUT) {
      flush(c);
      if (c.fd < 0)
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
      on_readable(c);
  }

  // --- the loop ------------------------------------------------------------------------------

  void start_connects() {
    // A retried connection is still counted in connects_in_flight_.
    if (!retry_.empty()) {
      uint64_t now = now_ns();
      std::vector<Retry> pending;
      pending.swap(retry_);  // open() may queue new retries
      for (const Retry& r : pending) {
        if (r.at <= now)
          open(*conns_[r.index]);
        else
          retry_.push_back(r);
      }
    }
    while (next_sub_ < static_cast<size_t>(o_.n) && connects_in_flight_ < o_.connect_concurrency) {
      Conn& c = *conns_[next_sub_++];
      ++connects_in_flight_;
      open(c);
    }
  }

  // Runs the loop until done() or the deadline; returns done().
  bool loop_until(uint64_t deadline, const std::function<bool()>& done) {
    epoll_event evs[1024];
    while (!done()) {
      start_connects();
      if (publishing_)
        pump_publish();
      uint64_t now = now_ns();
      if (now >= deadline)
        break;
      uint64_t wake = std::min(deadline, now + 50 * kSec / 1000);
      if (publishing_)
        wake = std::min(wake, next_publish_ns());
      if (progress_at_ && now >= progress_at_) {
        progress();
        progress_at_ = now + 2 * kSec;
      }
      if (progress_at_)
        wake = std::min(wake, progress_at_);
      uint64_t wait = wake > now ? wake - now : 0;
      timespec ts{static_cast<time_t>(wait / kSec), static_cast<long>(wait % kSec)};
      int n = epoll_pwait2(ep_, evs, 1024, &ts, nullptr);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        note_error(std::string("epoll_pwait2: ") + std::strerror(errno));
        return false;
      }
      read_now_ = now_ns();
      for (int i = 0; i < n; ++i)
        on_event_ready(evs[i].data.u64, evs[i].events);
    }
    return done();
  }

  void progress() {
    if (o_.quiet)
      return;
    if (!measuring_) {
      log("subscribers: %ld ready, %ld failed, %ld in flight (of %ld)", subs_ready_, subs_failed_,
          connects_in_flight_, o_.n);
    } else {
      log("published %" PRIu64 " ok (%" PRIu64 " sent), received %" PRIu64 " of %" PRIu64, pub_ok_,
          pub_sent_, received_, pub_sent_ * static_cast<uint64_t>(subs_at_start_));
    }
  }

  bool open_subscribers() {
    log("opening %ld SSE connections to %s:%u%s", o_.n, sub_url_.host.c_str(), sub_url_.port,
        sub_url_.target.c_str());
    progress_at_ = now_ns() + 2 * kSec;
    uint64_t deadline = now_ns() + secs_to_ns(o_.connect_timeout);
    loop_until(deadline, [&] {
      return next_sub_ >= static_cast<size_t>(o_.n) && retry_.empty() && connects_in_flight_ == 0;
    });
    connect_s_ = static_cast<double>(now_ns() - start_) / 1e9;
    log("subscribers: %ld ready, %ld failed in %.2f s", subs_ready_, subs_failed_, connect_s_);
    if (subs_ready_ < o_.n && !first_error_.empty())
      log("first error: %s", first_error_.c_str());
    return subs_ready_ > 0;
  }

  void settle(double seconds) {
    uint64_t until = now_ns() + secs_to_ns(seconds);
    loop_until(until, [] { return false; });
  }

  // --- idle ----------------------------------------------------------------------------------

  int run_idle() {
    start_ = now_ns();
    auto rss0 = read_rss_kib(o_.pid);
    bool any = open_subscribers();
    progress_at_ = 0;
    if (any)
      settle(o_.settle);
    auto rss1 = read_rss_kib(o_.pid);
    long open = subs_ready_;
    double per_conn = -1;
    if (rss0 && rss1 && open > 0)
      per_conn = (static_cast<double>(*rss1) - static_cast<double>(*rss0)) * 1024.0 /
                 static_cast<double>(open);
    if (o_.hold > 0)
      settle(o_.hold);
    long closed_during = subs_closed_;
    stop_reading_ = true;

    char line[512];
    if (per_conn >= 0) {
      std::snprintf(line, sizeof line,
                    "idle%s%s: %ld/%ld SSE connections open, server RSS %.1f MiB -> %.1f MiB: "
                    "%.0f B per connection%s",
                    o_.label.empty() ? "" : " ", o_.label.c_str(), open, o_.n,
                    static_cast<double>(*rss0) / 1024.0, static_cast<double>(*rss1) / 1024.0,
                    per_conn, closed_during ? " (some closed by the server)" : "");
    } else {
      std::snprintf(line, sizeof line, "idle%s%s: %ld/%ld SSE connections open%s",
                    o_.label.empty() ? "" : " ", o_.label.c_str(), open, o_.n,
                    open == 0 ? "" : " (RSS not measured: no --pid)");
    }
    std::printf("%s\n", line);
    if (!first_error_.empty())
      std::printf("  first error (%" PRIu64 " in all): %s\n", errors_, first_error_.c_str());
    std::fflush(stdout);

    if (!o_.json_path.empty()) {
      Json j;
      j.str("mode", "idle");
      j.str("label", o_.label);
      j.num("subscribers", o_.n);
      j.num("subscribers_connected", open);
      j.num("subscribers_failed", subs_failed_);
      j.num("subscribers_closed", closed_during);
      j.num("connect_s", connect_s_);
      j.num("rss_before_kib", rss0 ? static_cast<double>(*rss0) : -1);
      j.num("rss_after_kib", rss1 ? static_cast<double>(*rss1) : -1);
      j.num("rss_bytes_per_conn", per_conn);
      j.num("errors", static_cast<double>(errors_));
      j.str("first_error", first_error_);
      if (!j.write(o_.json_path))
        return fatal("cannot write " + o_.json_path);
    }
    return any ? 0 : 1;
  }

  // --- fanout --------------------------------------------------------------------------------

  uint64_t next_publish_ns() const {
    if (o_.max_rate)
      return now_ns() + 5 * kSec / 1000;
    return t0_ + static_cast<uint64_t>(static_cast<double>(pub_sent_) * 1e9 / o_.rate);
  }

  void append_publish(Conn& c, uint64_t ts) {
    char digits[24];
    auto r = std::to_chars(digits, digits + sizeof digits, ts);
    size_t dlen = static_cast<size_t>(r.ptr - digits);
    size_t body = std::max<size_t>(static_cast<size_t>(o_.size), dlen + 1);
    c.out += pub_prefix_;
    c.out += std::to_string(body);
    c.out += "\r\n\r\n";
    c.out.append(digits, dlen);
    c.out.push_back(' ');
    c.out.append(body - dlen - 1, 'x');
    ++c.outstanding;
    ++pub_sent_;
  }

  Conn* pick_publisher() {
    Conn* best = nullptr;
    for (size_t i = static_cast<size_t>(o_.n); i < conns_.size(); ++i) {
      Conn& c = *conns_[i];
      if (c.phase != Phase::Ready || c.outstanding >= static_cast<uint32_t>(o_.pipeline))
        continue;
      if (!best || c.outstanding < best->outstanding)
        best = &c;
    }
    return best;
  }

  void pump_publish() {
    uint64_t now = now_ns();
    // A rate run sends every planned message, with up to a second's grace when the loop is late.
    uint64_t stop_at = o_.max_rate ? pub_deadline_ : pub_deadline_ + kSec;
    if (now >= stop_at || (!o_.max_rate && pub_sent_ >= pub_planned_) || pubs_ready_ == 0) {
      publishing_ = false;
      return;
    }
    std::vector<Conn*>& touched = touched_;
    touched.clear();
    auto send_one = [&]() {
      Conn* c = pick_publisher();
      if (!c)
        return false;
      if (c->out.size() == c->out_off)
        touched.push_back(c);
      append_publish(*c, now);
      return true;
    };
    if (o_.max_rate) {
      auto subs = static_cast<uint64_t>(subs_at_start_);
      uint64_t window = static_cast<uint64_t>(o_.max_lag) * subs;
      // Publishes the server refused are never delivered: they do not count as in flight.
      while ((pub_sent_ - pub_err_) * subs < received_ + window) {
        if (!send_one())
          break;
      }
    } else {
      auto due = static_cast<uint64_t>(static_cast<double>(now - t0_) * o_.rate / 1e9) + 1;
      due = std::min(due, pub_planned_);
      while (pub_sent_ < due) {
        if (!send_one())
          break;
      }
    }
    for (Conn* c : touched)
      if (c->phase == Phase::Ready)
        flush(*c);
  }

  int run_fanout() {
    start_ = now_ns();
    if (!open_subscribers()) {
      std::printf("fanout%s%s: no subscriber could connect: %s\n", o_.label.empty() ? "" : " ",
                  o_.label.c_str(), first_error_.c_str());
      return 1;
    }
    // Publisher connections.
    pub_prefix_ = "POST " + pub_url_.target + " HTTP/1.1\r\nHost: " + pub_url_.host_header +
                  "\r\nContent-Type: text/plain\r\nUser-Agent: switchboard-loadgen\r\n"
                  "Content-Length: ";
    for (long i = 0; i < o_.pub_conns; ++i) {
      conns_.push_back(std::make_unique<Conn>(Role::Pub, static_cast<uint32_t>(conns_.size())));
      ++pubs_connecting_;
      open(*conns_.back());
    }
    loop_until(now_ns() + 10 * kSec, [&] { return pubs_connecting_ == 0 && retry_.empty(); });
    if (pubs_ready_ == 0) {
      std::printf("fanout%s%s: no publisher connection: %s\n", o_.label.empty() ? "" : " ",
                  o_.label.c_str(), first_error_.c_str());
      return 1;
    }
    progress_at_ = 0;
    settle(o_.settle);

    subs_at_start_ = subs_ready_;
    long subs_closed_before = subs_closed_;
    pub_planned_ = o_.max_rate
                       ? UINT64_MAX
                       : std::max<uint64_t>(1, static_cast<uint64_t>(o_.rate * o_.duration + 0.5));
    log("publishing for %.1f s at %s to %ld subscribers", o_.duration,
        o_.max_rate ? "max rate" : fmt("%g msg/s", o_.rate).c_str(), subs_at_start_);
    auto cpu0 = read_cpu_s(o_.pid);
    double self0 = self_cpu_s();
    t0_ = now_ns();
    read_now_ = t0_;
    last_ack_ns_ = t0_;
    last_delivery_ns_ = t0_;
    measuring_ = true;
    publishing_ = true;
    pub_deadline_ = t0_ + secs_to_ns(o_.duration);
    progress_at_ = t0_ + 2 * kSec;

    auto pubs_outstanding = [&] {
      uint64_t s = 0;
      for (size_t i = static_cast<size_t>(o_.n); i < conns_.size(); ++i)
        s += conns_[i]->outstanding;
      return s;
    };
    // Publish, then wait for the last answers.
    loop_until(pub_deadline_ + 30 * kSec, [&] { return !publishing_ && pubs_outstanding() == 0; });
    publishing_ = false;
    uint64_t pub_end = now_ns();
    uint64_t outstanding_left = pubs_outstanding();
    if (outstanding_left)
      note_error(std::to_string(outstanding_left) + " publishes still unanswered " +
                 std::to_string(static_cast<double>(now_ns() - pub_deadline_) / 1e9) +
                 " s after the last was due");

    // Drain: every message the server accepted (answered 2xx), or may have accepted (left
    // unanswered, or in flight on a publisher connection that closed), should reach every
    // subscriber present at the start. Only publishes refused with a status are not expected.
    auto expected = [&] { return (pub_sent_ - pub_err_) * static_cast<uint64_t>(subs_at_start_); };
    uint64_t drain_deadline = now_ns() + secs_to_ns(o_.drain);
    uint64_t last_seen = received_;
    uint64_t last_progress = now_ns();
    loop_until(drain_deadline, [&] {
      if (received_ >= expected())
        return true;
      uint64_t now = now_ns();
      if (received_ != last_seen) {
        last_seen = received_;
        last_progress = now;
      }
      return now - last_progress > 3 * kSec;  // nothing more is coming
    });
    auto cpu1 = read_cpu_s(o_.pid);
    double self1 = self_cpu_s();
    uint64_t t1 = now_ns();
    measuring_ = false;
    stop_reading_ = true;
    progress_at_ = 0;

    // Figures.
    double pub_window = static_cast<double>(std::max(last_ack_ns_, t0_ + 1) - t0_) / 1e9;
    double del_window = static_cast<double>(std::max(last_delivery_ns_, t0_ + 1) - t0_) / 1e9;
    double window = static_cast<double>(t1 - t0_) / 1e9;
    double published_per_s = static_cast<double>(pub_ok_) / pub_window;
    double deliveries_per_s = static_cast<double>(received_) / del_window;
    uint64_t exp = expected();
    double fraction = exp ? static_cast<double>(received_) / static_cast<double>(exp) : 0.0;
    double cpu_s = cpu0 && cpu1 ? *cpu1 - *cpu0 : -1;
    double us_per_delivery =
        cpu_s >= 0 && received_ ? cpu_s * 1e6 / static_cast<double>(received_) : -1;
    double server_pct = cpu_s >= 0 ? cpu_s / window * 100.0 : -1;
    double self_pct = (self1 - self0) / window * 100.0;
    auto ms = [&](double p) { return static_cast<double>(hist_.percentile(p)) / 1e6; };
    long closed = subs_closed_ - subs_closed_before;
    (void)pub_end;

    std::string rate = o_.max_rate ? "max" : fmt("%g msg/s", o_.rate);
    std::string line = fmt(
        "fanout%s%s: %ld subs, %s, %.1f s, %ld B: published %" PRIu64
        " (%.0f/s), deliveries %" PRIu64 "/%" PRIu64
        " (%.3f%%) %.0f/s, latency p50 %.3f ms p90 %.3f ms p99 %.3f ms p99.9 %.3f ms "
        "max %.3f ms",
        o_.label.empty() ? "" : " ", o_.label.c_str(), subs_at_start_, rate.c_str(), o_.duration,
        o_.size, pub_ok_, published_per_s, received_, exp, fraction * 100.0, deliveries_per_s,
        ms(50), ms(90), ms(99), ms(99.9), static_cast<double>(hist_.max()) / 1e6);
    if (us_per_delivery >= 0)
      line += fmt(", server CPU %.3f us/delivery (%.0f%% of a core)", us_per_delivery, server_pct);
    line += fmt(", loadgen CPU %.0f%%", self_pct);
    std::printf("%s\n", line.c_str());
    if (pub_err_ || pub_lost_ || closed || subs_failed_)
      std::printf("  publish errors %" PRIu64 ", publishes lost with a connection %" PRIu64
                  ", subscribers failed %ld, closed during the run %ld\n",
                  pub_err_, pub_lost_, subs_failed_, closed);
    if (!first_error_.empty())
      std::printf("  first error (%" PRIu64 " in all): %s\n", errors_, first_error_.c_str());
    std::fflush(stdout);

    if (!o_.json_path.empty()) {
      Json j;
      j.str("mode", "fanout");
      j.str("label", o_.label);
      j.num("subscribers", o_.n);
      j.num("subscribers_connected", subs_at_start_);
      j.num("subscribers_failed", subs_failed_);
      j.num("subscribers_closed", closed);
      j.num("connect_s", connect_s_);
      j.str("rate", o_.max_rate ? "max" : fmt("%g", o_.rate));
      j.num("duration_s", o_.duration);
      j.num("size", o_.size);
      j.num("publisher_connections", o_.pub_conns);
      j.num("published", static_cast<double>(pub_ok_));
      j.num("publish_errors", static_cast<double>(pub_err_ + pub_lost_));
      j.num("published_per_s", published_per_s);
      j.num("expected_deliveries", static_cast<double>(exp));
      j.num("received_deliveries", static_cast<double>(received_));
      j.num("delivered_fraction", fraction);
      j.num("deliveries_per_s", deliveries_per_s);
      j.num("latency_ms_p50", ms(50));
      j.num("latency_ms_p90", ms(90));
      j.num("latency_ms_p99", ms(99));
      j.num("latency_ms_p999", ms(99.9));
      j.num("latency_ms_max", static_cast<double>(hist_.max()) / 1e6);
      j.num("latency_ms_mean", hist_.mean() / 1e6);
      j.num("window_s", window);
      j.num("server_cpu_s", cpu_s);
      j.num("server_cpu_us_per_delivery", us_per_delivery);
      j.num("server_cpu_pct", server_pct);
      j.num("loadgen_cpu_pct", self_pct);
      j.num("other_events", static_cast<double>(other_events_));
      j.num("stale_events", static_cast<double>(stale_));
      j.num("errors", static_cast<double>(errors_));
      j.str("first_error", first_error_);
      if (!j.write(o_.json_path))
        return fatal("cannot write " + o_.json_path);
    }
    return 0;
  }

  // --- output helpers ------------------------------------------------------------------------

  static std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2))) {
    va_list ap;
    va_start(ap, f);
    char buf[1024];
    std::vsnprintf(buf, sizeof buf, f, ap);
    va_end(ap);
    return buf;
  }

  // A flat JSON object, one key per line (bench/run.sh reads it with sed).
  class Json {
   public:
    void str(const char* k, const std::string& v) {
      std::string e;
      for (char ch : v) {
        if (ch == '"' || ch == '\\') {
          e.push_back('\\');
          e.push_back(ch);
        } else if (static_cast<unsigned char>(ch) < 0x20) {
          e += fmt("\\u%04x", ch);
        } else {
          e.push_back(ch);
        }
      }
      add(k, "\"" + e + "\"");
    }
    void num(const char* k, double v) { add(k, fmt("%.6g", v)); }
    void num(const char* k, long v) { add(k, std::to_string(v)); }
    bool write(const std::string& path) const {
      std::FILE* f = std::fopen(path.c_str(), "w");
      if (!f)
        return false;
      std::fprintf(f, "{\n");
      for (size_t i = 0; i < items_.size(); ++i)
        std::fprintf(f, "  %s%s\n", items_[i].c_str(), i + 1 < items_.size() ? "," : "");
      std::fprintf(f, "}\n");
      return std::fclose(f) == 0;
    }

   private:
    void add(const char* k, const std::string& v) {
      items_.push_back("\"" + std::string(k) + "\": " + v);
    }
    std::vector<std::string> items_;
  };

  Options o_;
  Url sub_url_, pub_url_;
  sockaddr_in sub_addr_{}, pub_addr_{};
  uint32_t src_base_ = 0;
  uint64_t src_assigned_ = 0;
  int ep_ = -1;
  std::vector<char> rbuf_;
  std::string sub_request_;
  std::string pub_prefix_;
  std::vector<std::unique_ptr<Conn>> conns_;
  struct Retry {
    uint32_t index;
    uint64_t at;  // not before
  };
  std::vector<Retry> retry_;
  std::vector<Conn*> touched_;
  size_t next_sub_ = 0;
  long connects_in_flight_ = 0;
  long subs_ready_ = 0;
  long subs_failed_ = 0;
  long subs_closed_ = 0;
  long subs_at_start_ = 0;
  long pubs_connecting_ = 0;
  long pubs_ready_ = 0;
  uint64_t errors_ = 0;
  std::string first_error_;
  uint64_t start_ = 0;
  uint64_t progress_at_ = 0;
  double connect_s_ = 0;
  bool stop_reading_ = false;

  bool measuring_ = false;
  bool publishing_ = false;
  uint64_t t0_ = 0;
  uint64_t read_now_ = 0;
  uint64_t pub_deadline_ = 0;
  uint64_t pub_planned_ = 0;
  uint64_t pub_sent_ = 0;
  uint64_t pub_ok_ = 0;
  uint64_t pub_err_ = 0;
  uint64_t pub_lost_ = 0;
  uint64_t last_ack_ns_ = 0;
  uint64_t received_ = 0;
  uint64_t last_delivery_ns_ = 0;
  uint64_t other_events_ = 0;
  uint64_t stale_ = 0;
  LogHistogram hist_;
};

}  // namespace
}  // namespace loadgen

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  auto o = loadgen::parse_args(argc, argv);
  if (!o) {
    std::fputs(loadgen::kUsage, stderr);
    return 2;
  }
  setvbuf(stdout, nullptr, _IOLBF, 0);
  return loadgen::Runner(std::move(*o)).run();
}
