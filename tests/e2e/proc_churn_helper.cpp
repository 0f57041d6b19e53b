// proc_churn_helper: the process population of tests/e2e/proc_churn_test.py.
//
//   proc_churn_helper stable PORT K READY_FILE
//     Renames itself "stable-owner" and holds, until SIGTERM (at most 10 min):
//     listeners on 127.0.0.1:PORT (the churn target), PORT+1 and PORT+2;
//     K connections to PORT+1 with both ends open (2K ESTABLISHED);
//     K connections to PORT+2 whose client end it closed (K CLOSE_WAIT server
//     ends, its own). It accepts every connection to PORT and closes it at
//     once. Writes "READY listen=3 established=2K close_wait=K" to READY_FILE.
//
//   proc_churn_helper churn PORT RATE SECONDS MAX_CHILDREN HOLD_MS
//     Renames itself "churn-parent" (it never holds a TCP socket) and forks
//     RATE children a second for SECONDS. Each child renames itself
//     "churn-child" before it makes any socket, connects to 127.0.0.1:PORT,
//     holds the socket 0..HOLD_MS ms and exits. At most MAX_CHILDREN live at
//     once. Prints "forked=N failed=N" at the end.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;
void OnSignal(int) { g_stop = 1; }

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "proc_churn_helper: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

int Listen(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  const sockaddr_in addr = Loopback(port);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) Die("bind");
  if (::listen(fd, 4096) != 0) Die("listen");
  return fd;
}

int Connect(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  const sockaddr_in addr = Loopback(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int Stable(int port, int k, const std::string& ready_file) {
  ::prctl(PR_SET_NAME, "stable-owner", 0, 0, 0);
  std::signal(SIGTERM, OnSignal);
  std::signal(SIGINT, OnSignal);
  const int churn = Listen(port);
  const int held = Listen(port + 1);
  const int leaky = Listen(port + 2);
  std::vector<int> fds;
  for (int i = 0; i < k; ++i) {
    const int client = Connect(port + 1);
    if (client < 0) Die("connect (established)");
    const int server = ::accept4(held, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) Die("accept (established)");
    fds.push_back(client);
    fds.push_back(server);
  }
  for (int i = 0; i < k; ++i) {
    const int client = Connect(port + 2);
    if (client < 0) Die("connect (close_wait)");
    const int server = ::accept4(leaky, nullptr, nullptr, SOCK_CLOEXEC);
    if (server < 0) Die("accept (close_wait)");
    ::close(client);  // the peer closes; we never do: CLOSE_WAIT
    fds.push_back(server);
  }
  {
    const std::string tmp = ready_file + ".tmp";
    std::ofstream(tmp) << "READY listen=3 established=" << 2 * k << " close_wait=" << k
                       << " pid=" << ::getpid() << "\n";
    std::rename(tmp.c_str(), ready_file.c_str());
  }
  uint64_t accepted = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
  while (!g_stop && std::chrono::steady_clock::now() < deadline) {
    pollfd p{churn, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    for (;;) {
      const int fd = ::accept4(churn, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) break;
      ::close(fd);
      ++accepted;
    }
  }
  std::printf("stable-owner: accepted=%llu\n", static_cast<unsigned long long>(accepted));
  return 0;
}

int Churn(int port, int rate, int seconds, int max_children, int hold_ms) {
  ::prctl(PR_SET_NAME, "churn-parent", 0, 0, 0);
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  const auto period = std::chrono::nanoseconds(1'000'000'000LL / rate);
  auto next = start;
  uint64_t forked = 0;
  uint64_t failed = 0;
  uint64_t throttled = 0;
  int live = 0;
  unsigned seed = static_cast<unsigned>(::getpid());
  while (Clock::now() < end) {
    int status = 0;
    while (::waitpid(-1, &status, WNOHANG) > 0) {
      --live;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
    }
    if (live >= max_children) {
      ++throttled;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    const int hold = hold_ms > 0 ? static_cast<int>(rand_r(&seed) % static_cast<unsigned>(hold_ms + 1)) : 0;
    const pid_t pid = ::fork();
    if (pid < 0) {
      ++failed;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (pid == 0) {
      ::prctl(PR_SET_NAME, "churn-child", 0, 0, 0);
      const int fd = Connect(port);
      if (fd < 0) ::_exit(3);
      if (hold > 0) ::usleep(static_cast<useconds_t>(hold) * 1000);
      ::_exit(0);
    }
    ++forked;
    ++live;
    next += period;
    const auto now = Clock::now();
    if (next > now) {
      std::this_thread::sleep_until(next);
    } else if (now - next > std::chrono::milliseconds(100)) {
      next = now;  // behind: do not burst to catch up
    }
  }
  while (live > 0) {
    int status = 0;
    if (::waitpid(-1, &status, 0) <= 0) break;
    --live;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed;
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("forked=%llu failed=%llu throttled=%llu seconds=%.1f\n",
              static_cast<unsigned long long>(forked), static_cast<unsigned long long>(failed),
              static_cast<unsigned long long>(throttled), wall);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "stable" && argc == 5) {
    return Stable(std::atoi(argv[2]), std::atoi(argv[3]), argv[4]);
  }
  if (mode == "churn" && argc == 7) {
    const int rate = std::atoi(argv[3]);
    const int seconds = std::atoi(argv[4]);
    if (rate <= 0 || seconds <= 0 || seconds > 600) {
      std::fprintf(stderr, "proc_churn_helper: bad rate or seconds\n");
      return 2;
    }
    return Churn(std::atoi(argv[2]), rate, seconds, std::atoi(argv[5]), std::atoi(argv[6]));
  }
  std::fprintf(stderr,
               "usage: proc_churn_helper stable PORT K READY_FILE\n"
               "       proc_churn_helper churn PORT RATE SECONDS MAX_CHILDREN HOLD_MS\n");
  return 2;
}
