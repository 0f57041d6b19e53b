// twgen: keeps a steady number of TIME_WAIT sockets in the current network
// namespace, for benchmarks that need a TIME_WAIT population for longer than
// the kernel's 60 s TIME_WAIT lifetime (TCP_TIMEWAIT_LEN, not tunable).
//
// It listens on 127.0.0.1:PORT and, whenever the namespace's TIME_WAIT count
// (the `tw` field of /proc/net/sockstat, exact and cheap) is below --count,
// opens connections from 127.1.x.y (many sources, so the ephemeral port
// search stays cheap), closes the client end first and then the accepted
// server end: each connection leaves one client-side TIME_WAIT socket
// (local 127.1.x.y:ephemeral -> remote 127.0.0.1:PORT, no owner).
//
// Every expired socket is replaced as soon as it is seen missing, as fast as
// possible, so creation comes in waves: the first fill, then, 60 s later, its
// replacement, and so on. Between waves nothing expires and twgen is idle:
// --status-file PATH lets a benchmark find these quiet windows; each worker
// i keeps PATH.i up to date with
//   next_expiry=<unix time before which none of its sockets expires> tw=<n> at=<t>
// (next_expiry=0: none alive) and paused=1 while paused. A benchmark pauses
// the process group with SIGUSR1 (each worker stops between two batches, so
// none of its connections is left open) and resumes it with SIGUSR2; the
// deficit is then refilled.
// --rate R (default 0: unlimited) paces the first fill instead, which spreads
// the expiries evenly (no quiet windows, a steady R/s of replacements).
//
// Usage: twgen --count N [--port P] [--rate R] [--workers W]
//              [--max-seconds T] [--ready-file PATH] [--status-file PATH]
// --workers W forks W-1 more processes (one more core each), worker i
// listening on PORT+i; signal the process group to pause or stop them all.
// Prints "READY tw=<n>" once the count is reached (and writes it to PATH),
// then holds until stdin EOF (when stdin is a pipe, socket or terminal),
// SIGTERM/SIGINT/SIGHUP or --max-seconds (default 1800, at most 3600). Sets
// net.ipv4.tcp_tw_reuse=0 (so connects never recycle TIME_WAIT sockets),
// net.ipv4.tcp_rfc1337=1 and raises net.ipv4.tcp_max_tw_buckets in the
// namespace; restores them on exit.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_paused = 0;
extern "C" void OnSignal(int) { g_stop = 1; }
// SIGUSR1: pause at the next batch boundary (no connection of ours left
// open), SIGUSR2: resume.
extern "C" void OnPause(int) { g_paused = 1; }
extern "C" void OnResume(int) { g_paused = 0; }

constexpr int kBatch = 256;
constexpr double kTimeWaitSeconds = 60;  // TCP_TIMEWAIT_LEN

double RealtimeSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
constexpr uint64_t kPerSource = 6000;  // TIME_WAIT per (source, PORT) pair

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "twgen: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool WriteFile(const std::string& path, const std::string& value) {
  std::ofstream out(path);
  out << value << '\n';
  return static_cast<bool>(out.flush());
}

// A sysctl of the current namespace, restored by Restore().
struct Sysctl {
  std::string path;
  std::string old_value;
  bool changed = false;
  void Set(const std::string& value) {
    auto old = ReadFile(path);
    if (!old) Die("read " + path);
    old_value = *old;
    while (!old_value.empty() && old_value.back() == '\n') old_value.pop_back();
    if (old_value == value) return;
    if (!WriteFile(path, value)) Die("write " + path);
    changed = true;
    std::fprintf(stderr, "twgen: set %s: %s -> %s\n", path.c_str(), old_value.c_str(),
                 value.c_str());
  }
  void Restore() {
    if (changed && WriteFile(path, old_value)) changed = false;
  }
};

// TIME_WAIT sockets of this network namespace.
uint64_t TimeWaitCount() {
  auto text = ReadFile("/proc/net/sockstat");
  if (!text) Die("read /proc/net/sockstat");
  const auto tcp = text->find("TCP:");
  const auto tw = text->find(" tw ", tcp);
  if (tcp == std::string::npos || tw == std::string::npos) {
    std::fprintf(stderr, "twgen: no TCP tw count in /proc/net/sockstat\n");
    std::exit(1);
  }
  return std::strtoull(text->c_str() + tw + 4, nullptr, 10);
}

sockaddr_in Ipv4(uint32_t host_order_addr, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(host_order_addr);
  a.sin_port = htons(port);
  return a;
}

// 127.1.0.1, 127.1.0.2, ... (skipping .0 and .255 last octets).
uint32_t SourceAddress(uint64_t index) {
  return (127U << 24) | (1U << 16) | static_cast<uint32_t>((index / 254) << 8) |
         static_cast<uint32_t>(index % 254 + 1);
}

class Generator {
 public:
  Generator(uint16_t port, uint64_t sources, uint64_t first_source)
      : port_(port), sources_(sources), first_source_(first_source) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listener_ < 0) Die("socket");
    const int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in addr = Ipv4(0x7f000001, port);
    if (::bind(listener_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      Die("bind 127.0.0.1:" + std::to_string(port) + " (is lo up in this namespace?)");
    }
    if (::listen(listener_, 4096) != 0) Die("listen");
  }
  ~Generator() { ::close(listener_); }

  // Opens `n` connections and closes them client first; returns how many
  // were opened.
  int Batch(int n) {
    std::vector<int> clients;
    clients.reserve(static_cast<size_t>(n));
    const sockaddr_in dst = Ipv4(0x7f000001, port_);
    for (int i = 0; i < n; ++i) {
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) Die("socket");
      const int one = 1;
      ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      const sockaddr_in src = Ipv4(SourceAddress(first_source_ + next_source_++ % sources_), 0);
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) != 0) {
        Die("bind client");
      }
      if (::connect(fd, reinterpret_cast<const sockaddr*>(&dst), sizeof dst) != 0 &&
          errno != EINPROGRESS && errno != EINTR) {
        if (errno == EADDRNOTAVAIL) {  // this source is full: try the next one
          ::close(fd);
          ++failures_;
          continue;
        }
        Die("connect");
      }
      clients.push_back(fd);
    }
    // On loopback the handshakes are done by now; accept what is queued.
    std::vector<int> servers;
    for (;;) {
      const int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      servers.push_back(fd);
    }
    for (int fd : clients) ::close(fd);  // FIN first from the client end
    for (int fd : servers) ::close(fd);  // then the server's FIN: client -> TIME_WAIT
    created_ += clients.size();
    return static_cast<int>(clients.size());
  }

  uint64_t created() const { return created_; }
  uint64_t failures() const { return failures_; }

 private:
  int listener_ = -1;
  uint16_t port_;
  uint64_t sources_;
  uint64_t first_source_;
  uint64_t next_source_ = 0;
  uint64_t created_ = 0;
  uint64_t failures_ = 0;
};

uint64_t Number(const char* flag, const char* value, uint64_t min, uint64_t max) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(value, &end, 10);
  if (end == value || *end != '\0' || v < min || v > max) {
    std::fprintf(stderr, "twgen: %s must be %llu..%llu\n", flag,
                 static_cast<unsigned long long>(min), static_cast<unsigned long long>(max));
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t count = 0;
  uint64_t port = 30000;
  uint64_t rate = 0;
  uint64_t max_seconds = 1800;
  uint64_t workers = 1;
  std::string status_file;
  std::string ready_file;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) {
      std::fprintf(stderr, "usage: twgen --count N [--port P] [--rate R] [--workers W] "
                           "[--max-seconds T] [--ready-file PATH] [--status-file PATH]\n");
      return 2;
    }
    const char* v = argv[++i];
    if (arg == "--count") count = Number("--count", v, 1, 5'000'000);
    else if (arg == "--port") port = Number("--port", v, 1, 65535);
    else if (arg == "--rate") rate = Number("--rate", v, 0, 1'000'000);
    else if (arg == "--max-seconds") max_seconds = Number("--max-seconds", v, 1, 3600);
    else if (arg == "--ready-file") ready_file = v;
    else if (arg == "--workers") workers = Number("--workers", v, 1, 16);
    else if (arg == "--status-file") status_file = v;
    else {
      std::fprintf(stderr, "twgen: unknown flag %s\n", arg.c_str());
      return 2;
    }
  }
  if (count == 0) {
    std::fprintf(stderr, "twgen: --count is required\n");
    return 2;
  }
  if (port + workers - 1 > 65535) {
    std::fprintf(stderr, "twgen: --port + --workers - 1 must be at most 65535\n");
    return 2;
  }
  if (!ready_file.empty()) ::unlink(ready_file.c_str());

  struct sigaction sa{};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  struct sigaction pause_sa{};
  pause_sa.sa_handler = OnPause;
  pause_sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &pause_sa, nullptr);
  struct sigaction resume_sa{};
  resume_sa.sa_handler = OnResume;
  resume_sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR2, &resume_sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  Sysctl reuse{"/proc/sys/net/ipv4/tcp_tw_reuse", "", false};
  Sysctl rfc1337{"/proc/sys/net/ipv4/tcp_rfc1337", "", false};
  Sysctl buckets{"/proc/sys/net/ipv4/tcp_max_tw_buckets", "", false};
  reuse.Set("0");    // a connect must never recycle one of our sockets
  rfc1337.Set("1");  // nor may a stray RST kill one
  {
    const auto current = ReadFile(buckets.path);
    const uint64_t need = count + count / 5 + 10'000;
    if (!current || std::strtoull(current->c_str(), nullptr, 10) < need) {
      buckets.Set(std::to_string(need));
    }
  }
  auto restore = [&] {
    reuse.Restore();
    rfc1337.Restore();
    buckets.Restore();
  };

  struct stat st{};
  // Like sockpop: stdin is watched for EOF only when it is a pipe, a socket
  // or a terminal, so `twgen ... </dev/null &` keeps running.
  const bool watch_stdin = ::fstat(0, &st) == 0 &&
                           (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || ::isatty(0) == 1);

  const uint64_t sources = std::max<uint64_t>(1, (count + kPerSource - 1) / kPerSource);
  std::fprintf(stderr, "twgen: keeping %llu TIME_WAIT sockets toward 127.0.0.1:%llu..%llu from "
                       "%llu sources per worker, %llu workers, first fill at %llu/s (0: unlimited)\n",
               static_cast<unsigned long long>(count), static_cast<unsigned long long>(port),
               static_cast<unsigned long long>(port + workers - 1),
               static_cast<unsigned long long>(sources), static_cast<unsigned long long>(workers),
               static_cast<unsigned long long>(rate));

  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(max_seconds);
  const pid_t parent = ::getpid();
  std::vector<pid_t> children;
  uint64_t worker = 0;
  for (uint64_t i = 1; i < workers; ++i) {
    const pid_t pid = ::fork();
    if (pid < 0) Die("fork");
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) _exit(0);
      worker = i;
      break;
    }
    children.push_back(pid);
  }
  const double worker_rate = static_cast<double>(rate) / static_cast<double>(workers);
  // Every worker closes the loop on the namespace's count, with a listener
  // and source addresses of its own.
  Generator gen(static_cast<uint16_t>(port + worker), sources, worker * sources);
  // Connections of the last 60 s, oldest first: (realtime, count). Their
  // TIME_WAIT sockets expire 60 s after creation, never earlier.
  std::deque<std::pair<double, uint64_t>> recent;
  const std::string status_path =
      status_file.empty() ? "" : status_file + "." + std::to_string(worker);
  auto last_status = Clock::now() - std::chrono::seconds(1);
  auto write_status = [&](uint64_t tw, bool force) {
    const auto now = Clock::now();
    if (status_path.empty() || (!force && now - last_status < std::chrono::milliseconds(50))) {
      return;
    }
    last_status = now;
    const double wall = RealtimeSeconds();
    while (!recent.empty() && recent.front().first < wall - kTimeWaitSeconds) recent.pop_front();
    // No socket of ours expires before this time (0: none alive).
    const double next_expiry = recent.empty() ? 0 : recent.front().first + kTimeWaitSeconds;
    char line[160];
    std::snprintf(line, sizeof line, "next_expiry=%.3f tw=%llu at=%.3f paused=%d\n",
                  next_expiry, static_cast<unsigned long long>(tw), wall,
                  g_paused ? 1 : 0);
    const std::string tmp = status_path + ".tmp";
    if (WriteFile(tmp, line)) ::rename(tmp.c_str(), status_path.c_str());
  };
  bool ready = false;
  double budget = 0;  // connections the pacing allows (first fill, --rate > 0)
  auto last = start;
  while (!g_stop && Clock::now() < deadline) {
    const auto now = Clock::now();
    budget = std::min<double>(budget + std::chrono::duration<double>(now - last).count() *
                                           worker_rate,
                              worker_rate / 10 + kBatch);
    last = now;
    if (g_paused) {  // between batches: none of our connections is open
      write_status(0, true);
      while (g_paused && !g_stop) ::poll(nullptr, 0, 5);
      last = Clock::now();
      continue;
    }
    const uint64_t tw = TimeWaitCount();
    if (!ready && tw >= count) {
      ready = true;
      write_status(tw, true);
      if (worker == 0) {
        const std::string line = "READY tw=" + std::to_string(tw);
        std::printf("%s\n", line.c_str());
        std::fflush(stdout);
        if (!ready_file.empty()) {
          const std::string tmp = ready_file + ".tmp";
          if (WriteFile(tmp, line)) ::rename(tmp.c_str(), ready_file.c_str());
        }
        std::fprintf(stderr, "twgen: %llu TIME_WAIT after %.1f s\n",
                     static_cast<unsigned long long>(tw),
                     std::chrono::duration<double>(now - start).count());
      }
    }
    int want = tw < count ? static_cast<int>(std::min<uint64_t>(count - tw, kBatch)) : 0;
    if (!ready && rate > 0) want = std::min(want, static_cast<int>(budget));
    if (want > 0) {
      const double created_at = RealtimeSeconds();
      const int made = gen.Batch(want);
      budget -= made;
      if (made > 0) {
        if (!recent.empty() && recent.back().first > created_at - 0.05) {
          recent.back().second += static_cast<uint64_t>(made);
        } else {
          recent.emplace_back(created_at, static_cast<uint64_t>(made));
        }
      }
      write_status(tw, false);
      continue;  // re-read the count at once
    }
    write_status(tw, false);
    // Nothing to do: sleep a little, watching stdin for EOF (worker 0).
    pollfd pfd{watch_stdin && worker == 0 ? 0 : -1, POLLIN, 0};
    if (::poll(&pfd, 1, 10) > 0 && (pfd.revents & (POLLIN | POLLHUP))) {
      char buf[256];
      if (::read(0, buf, sizeof buf) <= 0) break;
    }
  }
  if (worker != 0) _exit(0);
  for (pid_t pid : children) {
    ::kill(pid, SIGCONT);  // a stopped worker would not see SIGTERM
    ::kill(pid, SIGTERM);
  }
  for (pid_t pid : children) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  restore();
  rusage self{};
  rusage kids{};
  ::getrusage(RUSAGE_SELF, &self);
  ::getrusage(RUSAGE_CHILDREN, &kids);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  std::fprintf(stderr, "twgen: stopping: worker 0 created %llu connections (%llu source-full "
                       "retries); cpu of all workers: user %.2f s sys %.2f s\n",
               static_cast<unsigned long long>(gen.created()),
               static_cast<unsigned long long>(gen.failures()),
               secs(self.ru_utime) + secs(kids.ru_utime), secs(self.ru_stime) + secs(kids.ru_stime));
  return 0;
}
