// sockpop: creates a known population of TCP sockets over loopback in the
// current network namespace, announces it with a READY line, holds it and
// cleans up. Used by the live end-to-end test (exporter counts vs. `ss`) and
// by the benchmark (hundreds of thousands of sockets, created quickly).
//
// Process layout: the parent only coordinates. It plans the population, tunes
// limits, creates all listening sockets, forks --procs workers and prints
// READY once every worker reports that its share is in place. Each worker
// owns its share of the client ends AND accepts exactly as many server ends
// (per-listener quotas), so every socket that stays open belongs to a process
// whose comm is "sockpop" and the per-process fd need is predictable.
//
// All sockets are non-blocking and driven by one epoll loop per worker with a
// bounded number of client connections in flight, so the accept queues never
// overflow (an overflow would cost a 1 s SYN retransmit).

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr unsigned kDefaultBasePort = 20000;
constexpr unsigned kTimeWaitPortOffset = 2;  // BASE+2 .. BASE+9
constexpr unsigned kMaxTimeWaitPorts = 8;
constexpr unsigned kIdleListenOffset = 10;  // --listen ports start at BASE+10
constexpr seconds kCreationTimeout{60};
constexpr seconds kMaxHold{3600};
constexpr seconds kStopTimeout{20};
constexpr milliseconds kMaxWait{1000};  // upper bound of every blocking wait
// Client connections in flight per worker. Also bounds the accept queue
// length and the server-side TIME_WAIT sockets a worker has pending.
constexpr unsigned kWindow = 512;
constexpr int kAcceptBatch = 64;
constexpr std::uint64_t kMaxCount = 10'000'000;
constexpr std::uint64_t kMaxProcs = 256;
constexpr std::uint64_t kMaxSources = 65536;
// epoll_event.data of a worker: an fd, or one of these tags.
constexpr std::uint64_t kListenerTag = std::uint64_t{1} << 32;  // | index
constexpr std::uint64_t kSignalTag = std::uint64_t{1} << 33;

// ---------------------------------------------------------------------------
// Errors and small helpers

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class UsageError : public Error {
 public:
  using Error::Error;
};

template <typename... Args>
std::string Concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}

std::string ErrnoHint(int err) {
  switch (err) {
    case EADDRNOTAVAIL:
      return " (is lo up in this namespace? no free ephemeral port? leftover "
             "TIME_WAIT sockets of an earlier run block the same ports for "
             "60 s: wait, use another --port or more --sources)";
    case EADDRINUSE:
      return " (port already taken: another sockpop still running? use "
             "another --port)";
    case ENETUNREACH:
      return " (is lo up in this namespace? ip link set lo up)";
    case EMFILE:
    case ENFILE:
      return " (file descriptor limit reached)";
    default:
      return "";
  }
}

// Callers pass errno explicitly (saved before building `what`) because
// building the message could clobber it.
[[noreturn]] void ThrowSys(int err, std::string_view what) {
  throw Error(Concat(what, ": ", std::strerror(err), ErrnoHint(err)));
}

void Log(std::string_view message) {
  std::cerr << "sockpop: " << message << '\n';
}

std::uint64_t CeilDiv(std::uint64_t a, std::uint64_t b) {
  return (a + b - 1) / b;
}

// Worker `index` of `count` handles items [first, second) of `total`.
std::pair<std::uint64_t, std::uint64_t> Share(std::uint64_t total,
                                              unsigned index, unsigned count) {
  return {total * index / count, total * (index + 1) / count};
}

int MillisUntil(Clock::time_point deadline) {
  const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::clamp(left, milliseconds{0}, kMaxWait).count());
}

// Owning file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) noexcept : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { Reset(); }

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }
  void Reset() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

void WriteAll(int fd, std::string_view data, std::string_view what) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ThrowSys(errno, what);
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string ReadSmallFile(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    const int err = errno;
    ThrowSys(err, Concat("open ", path));
  }
  std::array<char, 256> buf{};
  const ssize_t n = ::read(fd.get(), buf.data(), buf.size());
  if (n < 0) {
    const int err = errno;
    ThrowSys(err, Concat("read ", path));
  }
  return std::string(buf.data(), static_cast<std::size_t>(n));
}

void WriteFileAtomically(const std::string& path, std::string_view content) {
  const std::string tmp = Concat(path, ".tmp.", ::getpid());
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.valid()) {
    const int err = errno;
    ThrowSys(err, Concat("create ", tmp));
  }
  WriteAll(fd.get(), content, Concat("write ", tmp));
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    ThrowSys(err, Concat("rename ", tmp, " to ", path));
  }
}

// ---------------------------------------------------------------------------
// sysctls (net.* ones are per network namespace)

std::string SysctlPath(std::string_view name) {
  std::string path = "/proc/sys/";
  for (const char c : name) path += c == '.' ? '/' : c;
  return path;
}

std::string ReadSysctl(std::string_view name) {
  std::string text = ReadSmallFile(SysctlPath(name));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

std::uint64_t ParseUnsigned(std::string_view text, std::string_view what) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    throw Error(Concat(what, ": not a non-negative integer: '", text, "'"));
  }
  return value;
}

std::uint64_t ReadSysctlNumber(std::string_view name) {
  return ParseUnsigned(ReadSysctl(name), name);
}

// Changes sysctls and puts the old values back when destroyed, so running
// sockpop outside a throwaway namespace leaves no trace.
class SysctlChanges {
 public:
  SysctlChanges() = default;
  SysctlChanges(const SysctlChanges&) = delete;
  SysctlChanges& operator=(const SysctlChanges&) = delete;
  ~SysctlChanges() {
    if (::getpid() != owner_) return;  // a forked child must not restore
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      try {
        Write(it->name, it->old_value);
        Log(Concat("restored ", it->name, " = ", it->old_value));
      } catch (const Error& e) {
        Log(Concat("warning: could not restore ", it->name, ": ", e.what()));
      }
    }
  }

  void Set(std::string_view name, std::uint64_t value) {
    const std::string old_value = ReadSysctl(name);
    const std::string new_value = std::to_string(value);
    if (old_value == new_value) return;
    Write(name, new_value);
    saved_.push_back({std::string(name), old_value});
    Log(Concat("set ", name, ": ", old_value, " -> ", new_value));
  }

  void AtLeast(std::string_view name, std::uint64_t value) {
    if (ReadSysctlNumber(name) < value) Set(name, value);
  }

 private:
  struct Saved {
    std::string name;
    std::string old_value;
  };

  static void Write(std::string_view name, const std::string& value) {
    const std::string path = SysctlPath(name);
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd.valid()) {
      const int err = errno;
      ThrowSys(err, Concat("cannot set ", name, " = ", value, ": open ", path));
    }
    WriteAll(fd.get(), value, Concat("cannot set ", name, " = ", value));
  }

  pid_t owner_ = ::getpid();
  std::vector<Saved> saved_;
};

// ---------------------------------------------------------------------------
// Command line

struct Options {
  bool ipv4 = true;
  bool ipv6 = false;
  std::uint64_t listen = 0;
  std::uint64_t established = 0;
  std::uint64_t close_wait = 0;
  std::uint64_t time_wait = 0;
  unsigned base_port = kDefaultBasePort;
  unsigned procs = 1;
  unsigned sources = 1;
  bool sources_given = false;
  bool orphan_fin_wait = false;
  std::string ready_file;
  seconds hold = kMaxHold;
};

constexpr std::string_view kSynopsis =
    R"(Usage: sockpop [--family 4|6|both] [--listen N] [--established N]
               [--close-wait N] [--time-wait N] [--port BASE] [--procs K]
               [--sources S] [--orphan-fin-wait] [--ready-file PATH]
               [--hold-seconds T]
)";

void PrintUsage(std::ostream& out) {
  out << kSynopsis << R"(
Creates a known population of TCP sockets over loopback in the current
network namespace, prints one READY line, holds the sockets, then cleans up.

  --family 4|6|both  address family (default 4). "both" creates EVERY count
                     below once over 127.0.0.1 AND once over ::1, so e.g.
                     --established 5 --family both makes 5 + 5 connections.
  --port BASE        base port (default 20000). Listeners on 127.0.0.1/::1:
                       BASE    established service
                       BASE+1  close-wait service (server end half-closes)
                       BASE+2  time-wait service (client closes first)
                       BASE+10 .. BASE+9+N  idle listeners (--listen N)
  --listen N         N extra idle listeners per family (default 0)
  --established N    N connections to BASE per family; both ends stay open
  --close-wait N     N connections to BASE+1 per family; the server end calls
                     shutdown(SHUT_WR) and keeps its fd, the client end never
                     closes
  --orphan-fin-wait  the close-wait server end close()s instead: its
                     FIN_WAIT2 socket is orphaned (no owner) and disappears
                     after net.ipv4.tcp_fin_timeout
  --time-wait N      N connections to BASE+2 per family; the client shuts
                     down first, the server closes on EOF, the client end is
                     left in TIME_WAIT (no owner, gone after 60 s)
  --procs K          worker processes (default 1), see below
  --sources S        IPv4 client source addresses 127.0.0.1 .. 127.0.0.S
                     (default 1). Raised automatically (with a note on
                     stderr) so that no source/destination-port pair needs
                     more than 7/8 of half of net.ipv4.ip_local_port_range
                     (12351 with the default 32768-60999): beyond half the
                     kernel's ephemeral port search becomes very slow.
                     IPv6 always uses ::1 only: --established and
                     --close-wait are limited to that per-pair maximum, and
                     --time-wait is spread over up to 8 ports BASE+2 ..
                     BASE+9 (one extra IPv6 LISTEN socket per extra port).
  --ready-file PATH  also write the READY line to PATH (tmp file + rename;
                     a stale PATH is removed at start)
  --hold-seconds T   hold at most T seconds (default and cap: 3600)

Sockets per family once READY is printed (N_x = value of --x):
  LISTEN       3 + N_listen      (+ extra IPv6 time-wait ports, see above)
  ESTABLISHED  2 * N_established (client and server ends, all owned)
  CLOSE_WAIT   N_close_wait      (client ends, local port ephemeral, remote
                                  port BASE+1, owned)
  FIN_WAIT2    N_close_wait      (server ends, local port BASE+1; owned
                                  unless --orphan-fin-wait)
  TIME_WAIT    N_time_wait       (client ends, remote port BASE+2, no owner)
Stdout gets exactly one line with these totals summed over the families:
  READY listen=<n> established=<n> close_wait=<n> fin_wait2=<n> time_wait=<n>

Processes (all with comm "sockpop"): the parent only coordinates and holds
no sockets; K forked workers each own 1/K of the client ends, the same
number of server ends and a copy of every listening socket. Workers die with
the parent (PR_SET_PDEATHSIG).

Lifetime: after READY, holds until stdin reaches EOF (only watched when stdin
is a pipe, socket or terminal, so `sockpop ... &` with stdin on /dev/null
keeps holding), SIGTERM/SIGINT/SIGHUP, or --hold-seconds; never longer than
3600 s. Then closes everything, reaps the workers and exits 0. Creation must
finish within 60 s. Exit status 1 on errors, 2 on bad usage.

Raises RLIMIT_NOFILE (and fs.nr_open) as needed, and in the current network
namespace net.ipv4.tcp_max_tw_buckets and net.core.somaxconn when the counts
need it; when creating TIME_WAIT sockets it sets net.ipv4.tcp_tw_reuse=0 (new
connects never recycle them) and net.ipv4.tcp_rfc1337=1 (stray RSTs caused by
loopback reordering cannot kill them). Changes are logged to stderr and undone
on exit.
)";
}

std::uint64_t ParseOption(std::string_view option, std::string_view text,
                          std::uint64_t min, std::uint64_t max) {
  std::uint64_t value = 0;
  try {
    value = ParseUnsigned(text, option);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  if (value < min || value > max) {
    throw UsageError(
        Concat(option, ": ", value, " is out of range [", min, ", ", max, "]"));
  }
  return value;
}

void ValidatePorts(const Options& o) {
  const std::uint64_t last_fixed = o.base_port + kIdleListenOffset - 1;
  const std::uint64_t last_idle = o.base_port + kIdleListenOffset + o.listen;
  if (last_fixed > 65535 || (o.listen > 0 && last_idle - 1 > 65535)) {
    throw UsageError(Concat("--port ", o.base_port, " with --listen ", o.listen,
                            " needs ports beyond 65535"));
  }
}

// Returns nullopt for --help.
std::optional<Options> ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return std::nullopt;
    if (arg == "--orphan-fin-wait") {
      o.orphan_fin_wait = true;
      continue;
    }
    if (!arg.starts_with("--")) {
      throw UsageError(Concat("unexpected argument '", arg, "'"));
    }
    std::string_view name = arg;
    std::optional<std::string_view> inline_value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const auto value = [&]() -> std::string_view {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw UsageError(Concat(name, " needs a value"));
      return argv[++i];
    };
    const auto number = [&](std::uint64_t min, std::uint64_t max) {
      return ParseOption(name, value(), min, max);
    };
    if (name == "--family") {
      const std::string_view v = value();
      if (v != "4" && v != "6" && v != "both") {
        throw UsageError(
            Concat("--family: expected 4, 6 or both, got '", v, "'"));
      }
      o.ipv4 = v != "6";
      o.ipv6 = v != "4";
    } else if (name == "--listen") {
      o.listen = number(0, 65535);
    } else if (name == "--established") {
      o.established = number(0, kMaxCount);
    } else if (name == "--close-wait") {
      o.close_wait = number(0, kMaxCount);
    } else if (name == "--time-wait") {
      o.time_wait = number(0, kMaxCount);
    } else if (name == "--port") {
      o.base_port = static_cast<unsigned>(number(1, 65535));
    } else if (name == "--procs") {
      o.procs = static_cast<unsigned>(number(1, kMaxProcs));
    } else if (name == "--sources") {
      o.sources = static_cast<unsigned>(number(1, kMaxSources));
      o.sources_given = true;
    } else if (name == "--ready-file") {
      o.ready_file = std::string(value());
      if (o.ready_file.empty()) throw UsageError("--ready-file: empty path");
    } else if (name == "--hold-seconds") {
      const std::uint64_t hold = number(0, kMaxCount);
      o.hold = std::min(seconds{hold}, kMaxHold);
      if (o.hold < seconds{hold}) {
        Log(Concat("--hold-seconds capped at ", kMaxHold.count()));
      }
    } else if (name == "--orphan-fin-wait") {
      throw UsageError("--orphan-fin-wait takes no value");
    } else {
      throw UsageError(Concat("unknown option '", name, "'"));
    }
  }
  ValidatePorts(o);
  return o;
}

// ---------------------------------------------------------------------------
// Addresses

struct Endpoint {
  sockaddr_storage storage{};
  socklen_t length = 0;

  [[nodiscard]] const sockaddr* addr() const {
    return reinterpret_cast<const sockaddr*>(&storage);
  }

  // Address without port.
  [[nodiscard]] std::string Host() const {
    std::array<char, INET6_ADDRSTRLEN> text{};
    const void* raw =
        storage.ss_family == AF_INET
            ? static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr)
            : static_cast<const void*>(
                  &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
    ::inet_ntop(storage.ss_family, raw, text.data(), text.size());
    return text.data();
  }

  [[nodiscard]] std::string ToString() const {
    if (storage.ss_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage);
      return Concat(Host(), ':', ntohs(sin->sin_port));
    }
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    return Concat('[', Host(), "]:", ntohs(sin6->sin6_port));
  }
};

// 127.0.0.1 + host for IPv4 (127.0.0.0/8 is all local), ::1 for IPv6.
Endpoint Loopback(int family, std::uint64_t host, unsigned port) {
  Endpoint ep;
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ep.storage);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<std::uint16_t>(port));
    sin->sin_addr.s_addr =
        htonl(static_cast<std::uint32_t>(INADDR_LOOPBACK + host));
    ep.length = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ep.storage);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<std::uint16_t>(port));
    sin6->sin6_addr = in6addr_loopback;
    ep.length = sizeof(sockaddr_in6);
  }
  return ep;
}

std::string LocalName(int fd) {
  Endpoint ep;
  ep.length = sizeof(ep.storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ep.storage), &ep.length) !=
      0) {
    return "?";
  }
  return ep.ToString();
}

const char* FamilyName(int family) {
  return family == AF_INET ? "IPv4" : "IPv6";
}

// ---------------------------------------------------------------------------
// Plan: what to create, derived from the options and the port range

enum class Service : std::uint8_t {
  kEstablished,
  kCloseWait,
  kTimeWait,
  kIdle
};
constexpr std::array kClientServices = {
    Service::kEstablished, Service::kCloseWait, Service::kTimeWait};

std::size_t Index(Service s) { return static_cast<std::size_t>(s); }

const char* ServiceName(Service s) {
  switch (s) {
    case Service::kEstablished:
      return "established";
    case Service::kCloseWait:
      return "close-wait";
    case Service::kTimeWait:
      return "time-wait";
    case Service::kIdle:
      break;
  }
  return "idle";
}

struct FamilyPlan {
  int family = AF_INET;
  std::uint64_t sources = 1;   // client sources 127.0.0.1 .. (IPv6: ::1)
  std::uint64_t tw_ports = 1;  // time-wait service on BASE+2 .. BASE+1+n
};

struct Plan {
  Options opts;
  std::vector<FamilyPlan> families;
  int backlog = 128;

  [[nodiscard]] std::uint64_t Count(Service s) const {
    switch (s) {
      case Service::kEstablished:
        return opts.established;
      case Service::kCloseWait:
        return opts.close_wait;
      case Service::kTimeWait:
        return opts.time_wait;
      case Service::kIdle:
        break;
    }
    return 0;
  }

  // Destination port of client connection `index` of service `s`.
  [[nodiscard]] unsigned Port(const FamilyPlan& fp, Service s,
                              std::uint64_t index) const {
    if (s == Service::kTimeWait) {
      return opts.base_port + kTimeWaitPortOffset +
             static_cast<unsigned>(index % fp.tw_ports);
    }
    return opts.base_port + (s == Service::kCloseWait ? 1 : 0);
  }
};

// How many connections one (source address, destination port) pair may
// carry. connect() scans the even half of ip_local_port_range first and
// only then the odd half; once the even ports of a pair are used up every
// further connect scans them all (measured: ~4 ms per connect). Staying at
// 7/8 of the even half keeps allocation O(1) with some room for strays.
std::uint64_t PerPairCapacity() {
  std::istringstream in(ReadSysctl("net.ipv4.ip_local_port_range"));
  std::uint64_t low = 0;
  std::uint64_t high = 0;
  if (!(in >> low >> high) || high < low) {
    throw Error("cannot parse net.ipv4.ip_local_port_range");
  }
  const std::uint64_t capacity = (high - low + 1) / 2 * 7 / 8;
  if (capacity == 0) throw Error("net.ipv4.ip_local_port_range is too small");
  return capacity;
}

FamilyPlan PlanIpv4(const Options& o, std::uint64_t capacity) {
  const std::uint64_t busiest =
      std::max({o.established, o.close_wait, o.time_wait});
  const std::uint64_t needed =
      std::max<std::uint64_t>(1, CeilDiv(busiest, capacity));
  if (needed > kMaxSources) {
    throw Error(Concat("IPv4 counts need ", needed,
                       " source addresses, more than the maximum ",
                       kMaxSources));
  }
  FamilyPlan fp{AF_INET, std::max<std::uint64_t>(o.sources, needed), 1};
  if (fp.sources > o.sources) {
    Log(Concat(o.sources_given ? "--sources too small: " : "", "using ",
               fp.sources, " IPv4 source addresses 127.0.0.1 .. ",
               Loopback(AF_INET, fp.sources - 1, 0).Host(), " (at most ",
               capacity, " connections per source and destination port)"));
  }
  return fp;
}

FamilyPlan PlanIpv6(const Options& o, std::uint64_t capacity) {
  const std::string why =
      Concat("IPv6 has one loopback source (::1), so it supports at most ",
             capacity, " connections per destination port");
  if (o.established > capacity || o.close_wait > capacity) {
    throw Error(Concat(why, "; --established/--close-wait is too large"));
  }
  FamilyPlan fp{AF_INET6, 1,
                std::max<std::uint64_t>(1, CeilDiv(o.time_wait, capacity))};
  if (fp.tw_ports > kMaxTimeWaitPorts) {
    throw Error(
        Concat(why, " and spreads TIME_WAIT over at most ", kMaxTimeWaitPorts,
               " ports, i.e. --time-wait <= ", capacity * kMaxTimeWaitPorts));
  }
  if (fp.tw_ports > 1) {
    Log(Concat("IPv6 time-wait service uses ports ",
               o.base_port + kTimeWaitPortOffset, "..",
               o.base_port + kTimeWaitPortOffset + fp.tw_ports - 1, " (",
               fp.tw_ports - 1, " extra IPv6 LISTEN sockets)"));
  }
  return fp;
}

Plan MakePlan(const Options& opts) {
  Plan plan{opts, {}, 128};
  const std::uint64_t capacity = PerPairCapacity();
  if (opts.ipv4) plan.families.push_back(PlanIpv4(opts, capacity));
  if (opts.ipv6) plan.families.push_back(PlanIpv6(opts, capacity));

  // The accept queue of a port holds at most the connections in flight.
  std::uint64_t busiest_port = 0;
  for (const FamilyPlan& fp : plan.families) {
    busiest_port = std::max({busiest_port, opts.established, opts.close_wait,
                             CeilDiv(opts.time_wait, fp.tw_ports)});
  }
  const std::uint64_t queued = std::min<std::uint64_t>(
      busiest_port, std::uint64_t{opts.procs} * kWindow);
  plan.backlog =
      static_cast<int>(std::clamp<std::uint64_t>(queued + 64, 128, 65535));
  return plan;
}

struct Counts {
  std::uint64_t listen = 0;
  std::uint64_t established = 0;
  std::uint64_t close_wait = 0;
  std::uint64_t fin_wait2 = 0;
  std::uint64_t time_wait = 0;
};

Counts ExpectedCounts(const Plan& plan) {
  const Options& o = plan.opts;
  Counts c;
  for (const FamilyPlan& fp : plan.families) {
    c.listen += 2 + fp.tw_ports + o.listen;
    c.established += 2 * o.established;
    c.close_wait += o.close_wait;
    c.fin_wait2 += o.close_wait;
    c.time_wait += o.time_wait;
  }
  return c;
}

std::string ReadyLine(const Counts& c) {
  return Concat("READY listen=", c.listen, " established=", c.established,
                " close_wait=", c.close_wait, " fin_wait2=", c.fin_wait2,
                " time_wait=", c.time_wait);
}

// ---------------------------------------------------------------------------
// Limits

// Worst-case open files of one worker: a copy of every listener, its share
// of held client and server ends, the client window and as many pending
// server-side time-wait sockets.
std::uint64_t FdsPerWorker(const Plan& plan, unsigned procs) {
  const Options& o = plan.opts;
  std::uint64_t need = 64 + 2 * kWindow;
  for (const FamilyPlan& fp : plan.families) {
    need += 2 + fp.tw_ports + o.listen;
    need += 2 * CeilDiv(o.established, procs);
    need += (o.orphan_fin_wait ? 1 : 2) * CeilDiv(o.close_wait, procs);
  }
  return need;
}

std::string ProcsAdvice(const Plan& plan, std::uint64_t limit) {
  for (unsigned k = plan.opts.procs + 1; k <= kMaxProcs; ++k) {
    if (FdsPerWorker(plan, k) <= limit) {
      return Concat("use --procs ", k, " or more to spread the sockets");
    }
  }
  return "reduce the counts";
}

void RaiseFileLimit(const Plan& plan, SysctlChanges& sysctls) {
  const std::uint64_t need = FdsPerWorker(plan, plan.opts.procs);
  rlimit current{};
  if (::getrlimit(RLIMIT_NOFILE, &current) != 0) {
    ThrowSys(errno, "getrlimit(RLIMIT_NOFILE)");
  }
  if (current.rlim_cur >= need) return;
  rlimit wanted{need, std::max<rlim_t>(need, current.rlim_max)};
  if (need > current.rlim_max) {
    // The hard limit can never exceed fs.nr_open (a global sysctl).
    try {
      sysctls.AtLeast("fs.nr_open", need);
    } catch (const Error& e) {
      throw Error(Concat(e.what(), "; ", ProcsAdvice(plan, current.rlim_max)));
    }
  }
  if (::setrlimit(RLIMIT_NOFILE, &wanted) != 0) {
    const int err = errno;
    throw Error(Concat("need ", need,
                       " open files per worker, but raising RLIMIT_NOFILE "
                       "(soft ",
                       current.rlim_cur, ", hard ", current.rlim_max,
                       ") failed: setrlimit: ", std::strerror(err), "; ",
                       ProcsAdvice(plan, current.rlim_max)));
  }
  Log(Concat("raised RLIMIT_NOFILE to ", wanted.rlim_cur, " (hard ",
             wanted.rlim_max, ")"));
}

void TuneNamespace(const Plan& plan, SysctlChanges& sysctls) {
  const Counts expected = ExpectedCounts(plan);
  // Orphaned FIN_WAIT2 sockets are timewait buckets as well.
  const std::uint64_t buckets =
      expected.time_wait + (plan.opts.orphan_fin_wait ? expected.fin_wait2 : 0);
  if (buckets > 0) {
    sysctls.AtLeast("net.ipv4.tcp_max_tw_buckets",
                    buckets + buckets / 8 + 4096);
  }
  if (expected.time_wait > 0) {
    // With reuse enabled (default 2 = loopback) a connect may take over a
    // TIME_WAIT socket older than 1 s with the same 4-tuple, which would
    // silently shrink the population.
    sysctls.Set("net.ipv4.tcp_tw_reuse", 0);
    // Loopback can reorder segments across CPUs (per-CPU backlogs), so a
    // stale ACK may reach the server port after the server end is gone; the
    // listener answers with a RST that is in-window for the client's
    // TIME_WAIT socket and kills it (seen: ~0.1% under load). RFC 1337
    // behaviour makes TIME_WAIT sockets ignore such RSTs.
    sysctls.Set("net.ipv4.tcp_rfc1337", 1);
  }
  sysctls.AtLeast("net.core.somaxconn",
                  static_cast<std::uint64_t>(plan.backlog));
}

// ---------------------------------------------------------------------------
// Listeners (created by the parent, inherited by every worker)

struct Listener {
  Fd fd;
  int family = AF_INET;
  Service service = Service::kIdle;
  unsigned port = 0;
};

Fd MakeListener(int family, unsigned port, int backlog) {
  Fd fd(::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid()) {
    const int err = errno;
    ThrowSys(err, Concat("socket(", FamilyName(family), ")"));
  }
  const int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    ThrowSys(errno, "setsockopt(SO_REUSEADDR)");
  }
  if (family == AF_INET6 && ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY,
                                         &one, sizeof one) != 0) {
    ThrowSys(errno, "setsockopt(IPV6_V6ONLY)");
  }
  const Endpoint ep = Loopback(family, 0, port);
  if (::bind(fd.get(), ep.addr(), ep.length) != 0) {
    const int err = errno;
    ThrowSys(err, Concat("bind listener ", ep.ToString()));
  }
  if (::listen(fd.get(), backlog) != 0) {
    const int err = errno;
    ThrowSys(err, Concat("listen ", ep.ToString()));
  }
  return fd;
}

std::vector<Listener> CreateListeners(const Plan& plan) {
  const unsigned base = plan.opts.base_port;
  std::vector<Listener> listeners;
  const auto add = [&](int family, unsigned port, Service service) {
    listeners.push_back(
        {MakeListener(family, port, plan.backlog), family, service, port});
  };
  for (const FamilyPlan& fp : plan.families) {
    add(fp.family, base, Service::kEstablished);
    add(fp.family, base + 1, Service::kCloseWait);
    for (unsigned p = 0; p < fp.tw_ports; ++p) {
      add(fp.family, base + kTimeWaitPortOffset + p, Service::kTimeWait);
    }
    for (unsigned n = 0; n < plan.opts.listen; ++n) {
      add(fp.family, base + kIdleListenOffset + n, Service::kIdle);
    }
  }
  return listeners;
}

// ---------------------------------------------------------------------------
// Stop signals

// SIGTERM, SIGINT and SIGHUP are blocked and read from a signalfd that is
// part of every poll set, so a stop request is noticed even while a worker
// never sleeps (a handler would only run if epoll_pwait returned EINTR, which
// it does not while events keep coming). Forked workers inherit the mask and
// the fd; reading it yields the reader's own signals.
class StopSignals {
 public:
  StopSignals() {
    // Errors on dead peers and a background read of the terminal come back
    // as EPIPE/EIO instead of killing or stopping the process.
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGTTIN, SIG_IGN);
    sigset_t set;
    sigemptyset(&set);
    for (const int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) != 0) {
      ThrowSys(errno, "sigprocmask");
    }
    fd_ = Fd(::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_.valid()) ThrowSys(errno, "signalfd");
  }

  [[nodiscard]] int fd() const { return fd_.get(); }

  // Number of a pending stop signal of the calling process, 0 if none.
  [[nodiscard]] int Take() const {
    signalfd_siginfo info{};
    const ssize_t n = ::read(fd_.get(), &info, sizeof info);
    return n == static_cast<ssize_t>(sizeof info)
               ? static_cast<int>(info.ssi_signo)
               : 0;
  }

 private:
  Fd fd_;
};

// ---------------------------------------------------------------------------
// Worker

enum class ConnState : std::uint8_t {
  kFree,
  kClientEstablished,   // waiting for the server's greeting byte
  kClientCloseWait,     // waiting for the server's FIN
  kClientTwConnecting,  // waiting for the handshake
  kClientTwClosing,     // FIN sent, waiting for the server's FIN
  kServerTw,            // waiting for the client's FIN
  kHeld,                // part of the population, no longer watched
};

// Owns every socket of a worker, indexed by fd number (fds are small and
// dense, bounded by RLIMIT_NOFILE), together with its protocol state.
class SocketTable {
 public:
  explicit SocketTable(std::size_t capacity)
      : fds_(capacity), states_(capacity, ConnState::kFree) {}

  void Adopt(Fd fd, ConnState state) {
    const std::size_t i = Slot(fd.get());
    fds_[i] = std::move(fd);
    states_[i] = state;
  }
  void Close(int fd) {
    fds_[Slot(fd)].Reset();
    states_[Slot(fd)] = ConnState::kFree;
  }
  [[nodiscard]] ConnState state(int fd) const { return states_[Slot(fd)]; }
  void set_state(int fd, ConnState state) { states_[Slot(fd)] = state; }

 private:
  [[nodiscard]] std::size_t Slot(int fd) const {
    if (fd < 0 || static_cast<std::size_t>(fd) >= fds_.size()) {
      throw Error(Concat("fd ", fd, " outside the socket table"));
    }
    return static_cast<std::size_t>(fd);
  }

  std::vector<Fd> fds_;
  std::vector<ConnState> states_;
};

// Fd numbers are allocated lowest-first, so they stay below the number of
// open files: the worker's own bound plus a margin for inherited fds. The
// soft limit caps it too and may be far larger (up to fs.nr_open).
std::size_t SocketTableSize(const Plan& plan) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    ThrowSys(errno, "getrlimit(RLIMIT_NOFILE)");
  }
  const std::uint64_t bound =
      FdsPerWorker(plan, plan.opts.procs) + plan.opts.procs + 4096;
  return static_cast<std::size_t>(
      std::min<std::uint64_t>(limit.rlim_cur, bound));
}

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

enum class ReadResult { kData, kEof, kWouldBlock };

ReadResult ReadByte(int fd, std::string_view who) {
  char byte = 0;
  ssize_t n = 0;
  do {
    n = ::read(fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n > 0) return ReadResult::kData;
  if (n == 0) return ReadResult::kEof;
  if (errno == EAGAIN || errno == EWOULDBLOCK) return ReadResult::kWouldBlock;
  const int err = errno;
  ThrowSys(err, Concat(who, " ", LocalName(fd), ": read"));
}

// For time-wait sockets, which only wait for the peer's FIN (no data is
// ever sent on them): EPOLLRDHUP reports it without a read() syscall.
bool PeerFinished(int fd, std::uint32_t events, std::string_view who) {
  if ((events & EPOLLERR) != 0) {
    const int err = SocketError(fd);
    ThrowSys(err != 0 ? err : ECONNRESET, Concat(who, " ", LocalName(fd)));
  }
  return (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
}

class Worker {
 public:
  Worker(const Plan& plan, const std::vector<Listener>& listeners,
         unsigned index, Fd status, Clock::time_point deadline,
         const StopSignals& signals)
      : plan_(plan),
        index_(index),
        status_(std::move(status)),
        deadline_(deadline),
        hard_deadline_(deadline + kMaxHold + kCreationTimeout),
        signals_(signals),
        epoll_(::epoll_create1(EPOLL_CLOEXEC)),
        table_(SocketTableSize(plan)) {
    if (!epoll_.valid()) ThrowSys(errno, "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kSignalTag;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, signals_.fd(), &ev) != 0) {
      ThrowSys(errno, "epoll_ctl add signalfd");
    }
    PlanClients();
    for (const Listener& l : listeners) {
      const auto [first, last] =
          Share(plan_.Count(l.service), index_, plan_.opts.procs);
      slots_.push_back(
          {l.fd.get(), l.family, l.service, l.port, last - first, false});
    }
  }

  // Runs until stopped by a signal; throws on errors and on timeout.
  void Run() {
    std::array<epoll_event, 256> events{};
    while (stop_signal_ == 0) {
      UpdateListenerWatches();
      OpenClients();
      if (!reported_ && done_total() == client_total()) ReportReady();
      const auto now = Clock::now();
      if (!reported_ && now >= deadline_) throw Error(TimeoutMessage());
      if (now >= hard_deadline_) return;
      const int n = ::epoll_wait(
          epoll_.get(), events.data(), static_cast<int>(events.size()),
          MillisUntil(reported_ ? hard_deadline_ : deadline_));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) ThrowSys(errno, "epoll_wait");
      for (int i = 0; i < n; ++i) Dispatch(events[static_cast<std::size_t>(i)]);
    }
  }

 private:
  struct Job {
    const FamilyPlan* family;
    Service service;
    std::uint64_t next;  // global connection index, picks source and port
    std::uint64_t end;
  };

  struct ListenerSlot {
    int fd;
    int family;
    Service service;
    unsigned port;
    std::uint64_t quota;  // server ends this worker still has to accept
    bool watched;
  };

  // Held connections first, TIME_WAIT last: TIME_WAIT expires after 60 s,
  // so it should be created as close to READY as possible.
  void PlanClients() {
    for (const Service s : kClientServices) {
      for (const FamilyPlan& fp : plan_.families) {
        const auto [first, last] =
            Share(plan_.Count(s), index_, plan_.opts.procs);
        jobs_.push_back({&fp, s, first, last});
        total_[Index(s)] += last - first;
      }
    }
  }

  [[nodiscard]] std::uint64_t client_total() const {
    return total_[0] + total_[1] + total_[2];
  }
  [[nodiscard]] std::uint64_t done_total() const {
    return done_[0] + done_[1] + done_[2];
  }

  [[nodiscard]] bool WantsAccept(const ListenerSlot& slot) const {
    switch (slot.service) {
      case Service::kEstablished:
      case Service::kCloseWait:
        return slot.quota > 0;
      case Service::kTimeWait:
        // Pausing is safe: pending server ends get the client's FIN without
        // any help from this worker.
        return plan_.Count(Service::kTimeWait) > 0 &&
               server_tw_pending_ < kWindow;
      case Service::kIdle:
        break;
    }
    return false;
  }

  // EPOLLEXCLUSIVE wakes one of the workers watching a listener. A worker
  // stops watching once its quota is used up, so the remaining connections
  // go to workers that still need server ends.
  void UpdateListenerWatches() {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      ListenerSlot& slot = slots_[i];
      const bool want = WantsAccept(slot);
      if (want == slot.watched) continue;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLEXCLUSIVE;
      ev.data.u64 = kListenerTag | i;
      if (::epoll_ctl(epoll_.get(), want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
                      slot.fd, &ev) != 0) {
        const int err = errno;
        ThrowSys(err, Concat("epoll_ctl listener port ", slot.port));
      }
      slot.watched = want;
    }
  }

  void OpenClients() {
    while (in_flight_ < kWindow && next_job_ < jobs_.size()) {
      Job& job = jobs_[next_job_];
      if (job.next == job.end) {
        ++next_job_;
        continue;
      }
      OpenClient(*job.family, job.service, job.next++);
    }
  }

  void OpenClient(const FamilyPlan& fp, Service service, std::uint64_t index) {
    Fd sock(::socket(fp.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock.valid()) ThrowSys(errno, "socket");
    // Choose only the source address now; the port is picked by connect(),
    // which lets one port serve many destinations (per-4-tuple uniqueness).
    const int one = 1;
    if (::setsockopt(sock.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                     sizeof one) != 0) {
      ThrowSys(errno, "setsockopt(IP_BIND_ADDRESS_NO_PORT)");
    }
    const Endpoint src = Loopback(fp.family, index % fp.sources, 0);
    if (::bind(sock.get(), src.addr(), src.length) != 0) {
      const int err = errno;
      ThrowSys(err, Concat("bind client to ", src.ToString()));
    }
    const Endpoint dst = Loopback(fp.family, 0, plan_.Port(fp, service, index));
    if (::connect(sock.get(), dst.addr(), dst.length) != 0 &&
        errno != EINPROGRESS) {
      const int err = errno;
      ThrowSys(err, Concat("connect ", src.ToString(), " -> ", dst.ToString()));
    }
    // Edge-triggered: every socket needs one or two notifications only.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ConnState state = service == Service::kEstablished
                          ? ConnState::kClientEstablished
                          : ConnState::kClientCloseWait;
    if (service == Service::kTimeWait) {
      ev.events |= EPOLLOUT;  // shutdown() must wait for the handshake
      state = ConnState::kClientTwConnecting;
    }
    ev.data.u64 = static_cast<std::uint64_t>(sock.get());
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, sock.get(), &ev) != 0) {
      ThrowSys(errno, "epoll_ctl add client");
    }
    table_.Adopt(std::move(sock), state);
    ++in_flight_;
  }

  void Dispatch(const epoll_event& ev) {
    if (ev.data.u64 == kSignalTag) {
      stop_signal_ = signals_.Take();
      return;
    }
    if ((ev.data.u64 & kListenerTag) != 0) {
      AcceptFrom(static_cast<std::size_t>(ev.data.u64 & ~kListenerTag));
      return;
    }
    const int fd = static_cast<int>(ev.data.u64);
    switch (table_.state(fd)) {
      case ConnState::kClientEstablished:
        OnEstablishedClient(fd);
        break;
      case ConnState::kClientCloseWait:
        OnCloseWaitClient(fd);
        break;
      case ConnState::kClientTwConnecting:
        OnTimeWaitConnected(fd, ev.events);
        break;
      case ConnState::kClientTwClosing:
        OnTimeWaitClosing(fd, ev.events);
        break;
      case ConnState::kServerTw:
        OnServerTimeWait(fd, ev.events);
        break;
      case ConnState::kFree:
      case ConnState::kHeld:
        break;
    }
  }

  // The greeting byte proves the server end has been accepted.
  void OnEstablishedClient(int fd) {
    switch (ReadByte(fd, "established client")) {
      case ReadResult::kData:
        KeepOpen(fd, Service::kEstablished);
        break;
      case ReadResult::kEof:
        throw Error(
            Concat("established client ", LocalName(fd), ": unexpected EOF"));
      case ReadResult::kWouldBlock:
        break;
    }
  }

  // EOF proves the server end has half-closed: this end is now CLOSE_WAIT.
  void OnCloseWaitClient(int fd) {
    switch (ReadByte(fd, "close-wait client")) {
      case ReadResult::kEof:
        KeepOpen(fd, Service::kCloseWait);
        break;
      case ReadResult::kData:
        throw Error(
            Concat("close-wait client ", LocalName(fd), ": unexpected data"));
      case ReadResult::kWouldBlock:
        break;
    }
  }

  void KeepOpen(int fd, Service service) {
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr) != 0) {
      ThrowSys(errno, "epoll_ctl del");
    }
    table_.set_state(fd, ConnState::kHeld);
    --in_flight_;
    ++done_[Index(service)];
  }

  // Shutting down first makes this end the active closer. The server only
  // closes after our FIN, so the next edge is its FIN.
  void OnTimeWaitConnected(int fd, std::uint32_t events) {
    if ((events & (EPOLLERR | EPOLLHUP)) != 0) {
      const int err = SocketError(fd);
      ThrowSys(err != 0 ? err : ECONNRESET,
               Concat("time-wait client ", LocalName(fd), ": connect"));
    }
    if ((events & EPOLLOUT) == 0) return;
    if (::shutdown(fd, SHUT_WR) != 0) {
      const int err = errno;
      ThrowSys(err, Concat("time-wait client ", LocalName(fd), ": shutdown"));
    }
    table_.set_state(fd, ConnState::kClientTwClosing);
  }

  // Our FIN is acknowledged and the server's FIN has arrived: the kernel has
  // already moved the connection to TIME_WAIT, close() just drops the fd.
  void OnTimeWaitClosing(int fd, std::uint32_t events) {
    if (!PeerFinished(fd, events, "time-wait client")) return;
    table_.Close(fd);
    --in_flight_;
    ++done_[Index(Service::kTimeWait)];
  }

  void AcceptFrom(std::size_t slot_index) {
    ListenerSlot& slot = slots_.at(slot_index);
    for (int n = 0; n < kAcceptBatch && WantsAccept(slot); ++n) {
      Fd conn(
          ::accept4(slot.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!conn.valid()) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == ECONNABORTED || errno == EINTR) continue;
        const int err = errno;
        ThrowSys(err, Concat("accept on ", FamilyName(slot.family), " port ",
                             slot.port));
      }
      switch (slot.service) {
        case Service::kEstablished:
          Greet(std::move(conn));
          --slot.quota;
          break;
        case Service::kCloseWait:
          HalfClose(std::move(conn));
          --slot.quota;
          break;
        case Service::kTimeWait:
          ServeTimeWait(std::move(conn));
          break;
        case Service::kIdle:
          break;
      }
    }
  }

  void Greet(Fd conn) {
    if (::send(conn.get(), "x", 1, MSG_NOSIGNAL) != 1) {
      const int err = errno;
      ThrowSys(err,
               Concat("established server ", LocalName(conn.get()), ": send"));
    }
    table_.Adopt(std::move(conn), ConnState::kHeld);
  }

  void HalfClose(Fd conn) {
    // Default: keep the fd so the FIN_WAIT2 end stays owned and never times
    // out. Orphan mode: close() leaves an ownerless FIN_WAIT2.
    if (plan_.opts.orphan_fin_wait) return;
    if (::shutdown(conn.get(), SHUT_WR) != 0) {
      const int err = errno;
      ThrowSys(err, Concat("close-wait server ", LocalName(conn.get()),
                           ": shutdown"));
    }
    table_.Adopt(std::move(conn), ConnState::kHeld);
  }

  // Waits for the client's FIN, then closes. If the FIN is already there,
  // EPOLL_CTL_ADD reports it at once.
  void ServeTimeWait(Fd conn) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = static_cast<std::uint64_t>(conn.get());
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, conn.get(), &ev) != 0) {
      ThrowSys(errno, "epoll_ctl add server");
    }
    table_.Adopt(std::move(conn), ConnState::kServerTw);
    ++server_tw_pending_;
  }

  void OnServerTimeWait(int fd, std::uint32_t events) {
    if (!PeerFinished(fd, events, "time-wait server")) return;
    table_.Close(fd);
    --server_tw_pending_;
  }

  void ReportReady() {
    WriteAll(status_.get(), "R", "write to parent");
    reported_ = true;
  }

  [[nodiscard]] std::string TimeoutMessage() const {
    std::ostringstream out;
    out << "timed out after " << kCreationTimeout.count()
        << " s; client connections complete:";
    for (const Service s : kClientServices) {
      out << ' ' << ServiceName(s) << ' ' << done_[Index(s)] << '/'
          << total_[Index(s)];
    }
    out << " (" << in_flight_ << " in flight)";
    return out.str();
  }

  const Plan& plan_;
  unsigned index_;
  Fd status_;
  Clock::time_point deadline_;
  Clock::time_point hard_deadline_;
  const StopSignals& signals_;
  int stop_signal_ = 0;
  Fd epoll_;
  SocketTable table_;
  std::vector<ListenerSlot> slots_;
  std::vector<Job> jobs_;
  std::size_t next_job_ = 0;
  std::array<std::uint64_t, 3> total_{};
  std::array<std::uint64_t, 3> done_{};
  unsigned in_flight_ = 0;
  unsigned server_tw_pending_ = 0;
  bool reported_ = false;
};

// Body of a forked worker; never returns into the parent's stack frames.
[[noreturn]] void WorkerMain(const Plan& plan,
                             const std::vector<Listener>& listeners,
                             unsigned index, Fd status, pid_t parent,
                             Clock::time_point deadline,
                             const StopSignals& signals) {
  int code = 0;
  try {
    if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) {
      ThrowSys(errno, "prctl(PR_SET_PDEATHSIG)");
    }
    if (::getppid() != parent) throw Error("parent exited during startup");
    Worker worker(plan, listeners, index, std::move(status), deadline, signals);
    worker.Run();
  } catch (const std::exception& e) {
    Log(Concat("worker ", index, ": ", e.what()));
    code = 1;
  }
  // Sockets were closed by the Worker's destructor. _exit: the parent's
  // objects on this stack (copies after fork) must not run destructors.
  std::cerr.flush();
  ::_exit(code);
}

// ---------------------------------------------------------------------------
// Parent side

class WorkerSet {
 public:
  explicit WorkerSet(const StopSignals& signals) : signals_(signals) {}
  WorkerSet(const WorkerSet&) = delete;
  WorkerSet& operator=(const WorkerSet&) = delete;
  ~WorkerSet() {
    if (::getpid() == owner_) Stop();
  }

  void Spawn(const Plan& plan, const std::vector<Listener>& listeners,
             Clock::time_point deadline) {
    for (unsigned i = 0; i < plan.opts.procs; ++i) {
      int fds[2];
      if (::pipe2(fds, O_CLOEXEC) != 0) ThrowSys(errno, "pipe2");
      Fd read_end(fds[0]);
      Fd write_end(fds[1]);
      std::cout.flush();
      const pid_t pid = ::fork();
      if (pid < 0) ThrowSys(errno, "fork");
      if (pid == 0) {
        read_end.Reset();
        WorkerMain(plan, listeners, i, std::move(write_end), owner_, deadline,
                   signals_);
      }
      children_.push_back({pid, std::move(read_end), false, false});
    }
  }

  void WaitUntilReady(Clock::time_point deadline) {
    std::size_t ready = 0;
    while (ready < children_.size()) {
      if (Clock::now() >= deadline) {
        throw Error(Concat("timed out: ", ready, " of ", children_.size(),
                           " workers ready after ", kCreationTimeout.count(),
                           " s"));
      }
      std::vector<pollfd> fds{{signals_.fd(), POLLIN, 0}};
      std::vector<Child*> polled{nullptr};
      for (Child& c : children_) {
        if (c.ready) continue;
        fds.push_back({c.status.get(), POLLIN, 0});
        polled.push_back(&c);
      }
      Poll(fds, deadline);
      if (const int sig = fds[0].revents != 0 ? signals_.Take() : 0) {
        throw Error(Concat("interrupted by signal ", sig,
                           " before the population was ready"));
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        char byte = 0;
        if (::read(fds[i].fd, &byte, 1) != 1 || byte != 'R') {
          throw Error(Concat("worker pid ", polled[i]->pid,
                             " exited before the population was ready"));
        }
        polled[i]->ready = true;
        ++ready;
      }
    }
  }

  // Returns why holding ended.
  std::string Hold(Clock::time_point deadline) {
    bool watch_stdin = StdinIsWatchable();
    while (Clock::now() < deadline) {
      std::vector<pollfd> fds{{signals_.fd(), POLLIN, 0}};
      for (const Child& c : children_) fds.push_back({c.status.get(), 0, 0});
      if (watch_stdin) fds.push_back({STDIN_FILENO, POLLIN, 0});
      Poll(fds, deadline);
      // Checked first: Ctrl-C also ends the workers themselves.
      if (const int sig = fds[0].revents != 0 ? signals_.Take() : 0) {
        return Concat("signal ", sig);
      }
      for (std::size_t i = 0; i < children_.size(); ++i) {
        if (fds[i + 1].revents != 0) {
          throw Error(Concat("worker pid ", children_[i].pid,
                             " exited while holding the population"));
        }
      }
      if (watch_stdin && fds.back().revents != 0) {
        std::array<char, 4096> buf{};
        const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
        if (n == 0) return "stdin reached EOF";
        if (n < 0 && errno != EINTR && errno != EAGAIN) {
          const int err = errno;
          Log(Concat("no longer watching stdin: read: ", std::strerror(err)));
          watch_stdin = false;
        }
      }
    }
    return "hold time elapsed";
  }

  // SIGTERM, bounded wait, then SIGKILL. Idempotent.
  void Stop() {
    for (Child& c : children_) {
      if (!c.reaped) ::kill(c.pid, SIGTERM);
    }
    const auto deadline = Clock::now() + kStopTimeout;
    while (Reap(WNOHANG) > 0 && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds{10});
    }
    for (Child& c : children_) {
      if (c.reaped) continue;
      Log(Concat("worker pid ", c.pid, " ignored SIGTERM, killing it"));
      ::kill(c.pid, SIGKILL);
    }
    Reap(0);
  }

 private:
  struct Child {
    pid_t pid;
    Fd status;
    bool ready;
    bool reaped;
  };

  static bool StdinIsWatchable() {
    struct stat st {};
    if (::fstat(STDIN_FILENO, &st) != 0) return false;
    return S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) ||
           ::isatty(STDIN_FILENO) == 1;
  }

  // Waits at most until `deadline` (and at most kMaxWait); on return the
  // revents are valid (all zero after a timeout).
  static void Poll(std::vector<pollfd>& fds, Clock::time_point deadline) {
    const int n = ::poll(fds.data(), fds.size(), MillisUntil(deadline));
    if (n < 0 && errno != EINTR) ThrowSys(errno, "poll");
    if (n <= 0) {
      for (pollfd& p : fds) p.revents = 0;
    }
  }

  // Returns how many children are still running.
  std::size_t Reap(int flags) {
    std::size_t running = 0;
    for (Child& c : children_) {
      if (c.reaped) continue;
      int status = 0;
      const pid_t r = ::waitpid(c.pid, &status, flags);
      if (r == c.pid || (r < 0 && errno == ECHILD)) {
        c.reaped = true;
      } else {
        ++running;
      }
    }
    return running;
  }

  const StopSignals& signals_;
  pid_t owner_ = ::getpid();
  std::vector<Child> children_;
};

void RemoveStaleReadyFile(const std::string& path) {
  if (!path.empty() && ::unlink(path.c_str()) != 0 && errno != ENOENT) {
    const int err = errno;
    ThrowSys(err, Concat("remove stale ready file ", path));
  }
}

void Announce(const std::string& line, const std::string& ready_file) {
  std::cout << line << std::endl;
  if (!std::cout) Log("warning: could not write the READY line to stdout");
  if (!ready_file.empty()) WriteFileAtomically(ready_file, line + '\n');
}

int Run(const Options& opts) {
  const auto start = Clock::now();
  const auto deadline = start + kCreationTimeout;
  // The e2e test looks for comm "sockpop", whatever the binary is called.
  ::prctl(PR_SET_NAME, "sockpop");
  RemoveStaleReadyFile(opts.ready_file);

  const Plan plan = MakePlan(opts);
  SysctlChanges sysctls;
  RaiseFileLimit(plan, sysctls);
  TuneNamespace(plan, sysctls);
  const StopSignals signals;

  std::vector<Listener> listeners = CreateListeners(plan);
  WorkerSet workers(signals);
  workers.Spawn(plan, listeners, deadline);
  listeners.clear();  // the workers own them now
  // Small grace so a worker's own, more detailed timeout report wins.
  workers.WaitUntilReady(deadline + seconds{3});

  const auto ready_at = Clock::now();
  const std::chrono::duration<double> took = ready_at - start;
  Log(Concat("population ready after ", std::fixed, std::setprecision(3),
             took.count(), " s"));
  Announce(ReadyLine(ExpectedCounts(plan)), opts.ready_file);

  const std::string reason = workers.Hold(ready_at + opts.hold);
  Log(Concat("stopping: ", reason));
  workers.Stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> opts;
  try {
    opts = ParseArgs(argc, argv);
  } catch (const UsageError& e) {
    Log(e.what());
    std::cerr << kSynopsis << "Run 'sockpop --help' for details.\n";
    return 2;
  }
  if (!opts) {
    PrintUsage(std::cout);
    return 0;
  }
  try {
    return Run(*opts);
  } catch (const std::exception& e) {
    Log(e.what());
    return 1;
  }
}
