// soak_procchurn: the process churn of the soak test (bench/soak/soak.py).
//
//   soak_procchurn PORT RATE SECONDS NAMES HOLD_MS MAX_CHILDREN [STATUS_FILE]
//
// Renames itself "soak-forker", listens on 127.0.0.1:PORT and forks RATE
// children a second for SECONDS (at most MAX_CHILDREN alive). Each child
// renames itself "soakp-NNN" (NNN random below NAMES) before it makes any
// socket, connects to PORT, holds the socket 0..HOLD_MS ms and exits. The
// parent accepts every connection and closes it at once, so the child's
// socket goes ESTABLISHED -> CLOSE_WAIT while its short-lived owner holds it:
// process labels (and CLOSE_WAIT groups) that come and go all the time.
// Writes "forked=N failed=N fork_errors=N throttled=N accepted=N live=N" to
// STATUS_FILE about once a second (tmp file + rename). Stops on SIGTERM or
// SIGINT, at SECONDS, or when its parent dies (PR_SET_PDEATHSIG).
// C++, not churn.py: Python's fork is too slow for 100+ forks a second on a
// loaded machine. Built by bench/CMakeLists.txt into <build>/bench/soak/.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "soak_procchurn: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

struct Counters {
  unsigned long long forked = 0, failed = 0, fork_errors = 0, throttled = 0, accepted = 0;
  int live = 0;
};

void WriteStatus(const std::string& path, const Counters& c) {
  if (path.empty()) return;
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    out << "forked=" << c.forked << " failed=" << c.failed << " fork_errors=" << c.fork_errors
        << " throttled=" << c.throttled << " accepted=" << c.accepted << " live=" << c.live << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

void Reap(Counters& c, bool block) {
  int status = 0;
  pid_t pid;
  while (c.live > 0 && (pid = ::waitpid(-1, &status, block ? 0 : WNOHANG)) > 0) {
    --c.live;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++c.failed;
  }
}

[[noreturn]] void Child(int listen_fd, int port, const char* name, int hold_ms) {
  ::close(listen_fd);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGINT, SIG_DFL);
  ::prctl(PR_SET_NAME, name, 0, 0, 0);
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) ::_exit(3);
  const sockaddr_in addr = Loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) ::_exit(3);
  if (hold_ms > 0) ::usleep(static_cast<useconds_t>(hold_ms) * 1000);
  ::_exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 7 || argc > 8) {
    std::fprintf(stderr,
                 "usage: soak_procchurn PORT RATE SECONDS NAMES HOLD_MS MAX_CHILDREN "
                 "[STATUS_FILE]\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const double rate = std::atof(argv[2]);
  const double seconds = std::atof(argv[3]);
  const int names = std::atoi(argv[4]);
  const int hold_ms = std::atoi(argv[5]);
  const int max_children = std::atoi(argv[6]);
  const std::string status_file = argc == 8 ? argv[7] : "";
  if (port <= 0 || port > 65535 || rate <= 0 || rate > 10000 || seconds <= 0 ||
      seconds > 7 * 86400 || names <= 0 || names > 1000 || hold_ms < 0 || max_children <= 0) {
    std::fprintf(stderr, "soak_procchurn: bad arguments\n");
    return 2;
  }
  ::prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
  if (::getppid() == 1) return 0;
  ::prctl(PR_SET_NAME, "soak-forker", 0, 0, 0);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);

  const int lst = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (lst < 0) Die("socket");
  const int one = 1;
  ::setsockopt(lst, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const sockaddr_in addr = Loopback(port);
  if (::bind(lst, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) Die("bind");
  if (::listen(lst, 4096) != 0) Die("listen");

  Counters c;
  unsigned seed = static_cast<unsigned>(::getpid());
  const auto start = Clock::now();
  const auto end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  const auto period =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / rate));
  auto next = start;
  auto next_status = start;
  while (!g_stop && Clock::now() < end) {
    Reap(c, false);
    auto now = Clock::now();
    while (next <= now && !g_stop) {
      if (now - next > std::chrono::milliseconds(100)) next = now;  // behind: no burst
      next += period;
      if (c.live >= max_children) {
        ++c.throttled;
        continue;
      }
      char name[16];
      std::snprintf(name, sizeof(name), "soakp-%03u", rand_r(&seed) % static_cast<unsigned>(names));
      const int hold =
          hold_ms > 0 ? static_cast<int>(rand_r(&seed) % static_cast<unsigned>(hold_ms + 1)) : 0;
      const pid_t pid = ::fork();
      if (pid < 0) {
        ++c.fork_errors;
        continue;
      }
      if (pid == 0) Child(lst, port, name, hold);
      ++c.forked;
      ++c.live;
    }
    for (;;) {  // accept and close at once: the child's end goes CLOSE_WAIT
      const int fd = ::accept4(lst, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) break;
      ::close(fd);
      ++c.accepted;
    }
    now = Clock::now();
    if (now >= next_status) {
      next_status = now + std::chrono::seconds(1);
      WriteStatus(status_file, c);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count();
    pollfd p{lst, POLLIN, 0};
    ::poll(&p, 1, static_cast<int>(std::clamp<long long>(wait, 0, 20)));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (c.live > 0 && Clock::now() < deadline) {
    Reap(c, false);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  WriteStatus(status_file, c);
  ::close(lst);
  return 0;
}
