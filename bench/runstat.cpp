// runstat: runs a command and reports its wall time, CPU time and peak RSS.
//
// The harness (Python) cannot take a child's peak RSS from its own rusage:
// exec records the pre-exec address space's high-water mark too, so every
// child of a 25 MB Python process would "peak" at 25 MB. runstat is small,
// so what it forks starts small.
//
// Usage: runstat OUTFILE COMMAND [ARG...]
// stdin/stdout/stderr are inherited. Writes one line to OUTFILE:
//   wall=<s> user=<s> sys=<s> maxrss_kb=<n> status=<exit code or 128+signal>
// and exits with the command's status.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace {

double Seconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: runstat OUTFILE COMMAND [ARG...]\n");
    return 2;
  }
  const double start = Now();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("runstat: fork");
    return 1;
  }
  if (pid == 0) {
    execvp(argv[2], argv + 2);
    std::fprintf(stderr, "runstat: exec %s: %s\n", argv[2], std::strerror(errno));
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      std::perror("runstat: wait4");
      return 1;
    }
  }
  const double wall = Now() - start;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  FILE* out = std::fopen(argv[1], "w");
  if (out == nullptr) {
    std::perror("runstat: open OUTFILE");
    return 1;
  }
  std::fprintf(out, "wall=%.6f user=%.6f sys=%.6f maxrss_kb=%ld status=%d\n", wall,
               Seconds(ru.ru_utime), Seconds(ru.ru_stime), ru.ru_maxrss, code);
  std::fclose(out);
  return code;
}
