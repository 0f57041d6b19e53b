// Memory of process attribution, in bytes of RSS per socket (run by hand:
// bench/run.sh does not run it). Builds a fake /proc (tmpfs) whose processes
// hold `sockets` socket fds, then measures, against the RSS before:
//   cache      ProcOwnerDirectory alone: Resolve() every inode, EndPoll();
//              RSS with the cache filled (live = after malloc_trim) and the
//              peak (VmHWM) while resolving
//   tracker    CloseWaitTracker alone: two polls observing a quarter of the
//              sockets (CLOSE_WAIT), committed
//   cold poll  the poller's protocol (BeginPoll, OnRecord for every socket,
//              Resolve, Finish, EndPoll) with a fresh directory and tracker,
//              3/4 ESTABLISHED + 1/4 CLOSE_WAIT: peak and steady RSS
//   warm       three more polls of the same table
//   shrunk     five polls of 1% of the table: does the RSS follow it down?
// Usage: bench_attribution_memory [sockets=200000] [processes=200]
// Peaks reset VmHWM through /proc/self/clear_refs (needs Linux >= 4.0).
#include <malloc.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "aggregate/close_wait_tracker.h"
#include "aggregate/poll_aggregator.h"
#include "config/config.h"
#include "common/tcp_state.h"
#include "procfs/proc_owner_directory.h"

namespace tcpstate::bench {
namespace {

const PortRange kEphemeral{32768, 60999};

long StatusKb(const char* field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) return std::strtol(line.c_str() + prefix.size(), nullptr, 10);
  }
  return -1;
}
long RssKb() { return StatusKb("VmRSS"); }
long HwmKb() { return StatusKb("VmHWM"); }
void ResetHwm() { std::ofstream("/proc/self/clear_refs") << "5"; }

class FakeProc {
 public:
  FakeProc(size_t sockets, int processes) {
    root_ = std::filesystem::path(std::filesystem::exists("/dev/shm")
                                      ? "/dev/shm"
                                      : std::filesystem::temp_directory_path()) /
            ("tcpstate-memory-proc-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    for (int p = 0; p < processes; ++p) {
      const auto dir = root_ / std::to_string(1000 + p);
      std::filesystem::create_directories(dir / "fd");
      std::string stat = std::to_string(1000 + p) + " (sockpop) S";
      for (int field = 4; field <= 21; ++field) stat += " 0";
      stat += " 12345 0 0\n";
      std::ofstream(dir / "stat") << stat;
    }
    for (size_t i = 0; i < sockets; ++i) {
      const int p = static_cast<int>(i % static_cast<size_t>(processes));
      const uint32_t inode = static_cast<uint32_t>(100'000 + i);
      std::filesystem::create_symlink(
          "socket:[" + std::to_string(inode) + "]",
          root_ / std::to_string(1000 + p) / "fd" / std::to_string(3 + i / processes));
      inodes_.push_back(inode);
    }
  }
  ~FakeProc() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  const std::vector<uint32_t>& inodes() const { return inodes_; }

 private:
  std::filesystem::path root_;
  std::vector<uint32_t> inodes_;
};

std::vector<SocketRecord> Records(const std::vector<uint32_t>& inodes) {
  std::vector<SocketRecord> out;
  out.reserve(inodes.size());
  for (size_t i = 0; i < inodes.size(); ++i) {
    SocketRecord r;
    r.family = AF_INET;
    r.state = i % 4 == 0 ? kCloseWait : kEstablished;
    r.local_port = static_cast<uint16_t>(32768 + i % 28000);
    r.remote_port = 20000;
    r.local_addr = {127, 0, 0, static_cast<uint8_t>(1 + i % 41)};
    r.remote_addr = {127, 0, 0, 1};
    r.cookie = 0x1000 + i * 7;
    r.inode = inodes[i];
    out.push_back(r);
  }
  std::shuffle(out.begin(), out.end(), std::mt19937(42));
  return out;
}

// One poll, as daemon/poller/poller.cpp PollOnce runs it.
uint64_t Poll(const std::vector<SocketRecord>& records, size_t count, const Config& config,
              ProcOwnerDirectory& owners, CloseWaitTracker& tracker, int64_t now_ms) {
  owners.BeginPoll();
  PollAggregator aggregator(config, kEphemeral, &owners, tracker, now_ms);
  aggregator.BeginAttempt();
  for (size_t i = 0; i < count; ++i) aggregator.OnRecord(records[i]);
  std::vector<uint32_t> pending;
  aggregator.AppendPendingInodes(pending);
  if (!pending.empty()) owners.Resolve(pending);
  SocketTable table = aggregator.Finish();
  owners.EndPoll();
  return table.total;
}

void Row(const char* what, long kb, size_t per) {
  std::printf("%-44s %10.1f MB %9.1f B/socket\n", what, static_cast<double>(kb) / 1024.0,
              static_cast<double>(kb) * 1024.0 / static_cast<double>(per));
}

}  // namespace
}  // namespace tcpstate::bench

int main(int argc, char** argv) {
  using namespace tcpstate;
  using namespace tcpstate::bench;
  const size_t sockets = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 200'000;
  const int processes = argc > 2 ? std::atoi(argv[2]) : 200;
  std::printf("building a fake /proc: %zu sockets in %d processes...\n", sockets, processes);
  FakeProc proc(sockets, processes);
  const auto records = Records(proc.inodes());
  Config config;
  const size_t close_wait = (sockets + 3) / 4;

  malloc_trim(0);
  long base = RssKb();
  std::printf("baseline RSS %.1f MB\n\n", static_cast<double>(base) / 1024.0);

  {
    ProcOwnerDirectory owners(proc.root(), {});
    ResetHwm();
    const auto start = std::chrono::steady_clock::now();
    owners.BeginPoll();
    owners.Resolve(proc.inodes());
    for (uint32_t inode : proc.inodes()) owners.Lookup(inode);
    owners.EndPoll();
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const long peak = HwmKb() - base;
    const long steady = RssKb() - base;
    malloc_trim(0);
    const long live = RssKb() - base;
    std::printf("cache: %zu cached sockets, resolve %.0f ms\n", owners.cached_sockets(), ms);
    Row("  inode cache, live (after malloc_trim)", live, sockets);
    Row("  inode cache, RSS after the poll", steady, sockets);
    Row("  peak while resolving (VmHWM)", peak, sockets);
  }
  malloc_trim(0);
  base = RssKb();

  {
    CloseWaitTracker tracker(config.close_wait.max_tracked);
    ResetHwm();
    for (int poll = 0; poll < 2; ++poll) {
      tracker.Begin();
      for (size_t i = 0; i < close_wait; ++i) tracker.Observe(records[i].cookie, 1000 * poll);
      tracker.Commit();
    }
    const long peak = HwmKb() - base;
    malloc_trim(0);
    const long live = RssKb() - base;
    std::printf("\ntracker: %zu CLOSE_WAIT sockets tracked\n", tracker.tracked());
    Row("  CLOSE_WAIT tracker, live", live, close_wait);
    Row("  peak (VmHWM)", peak, close_wait);
  }
  malloc_trim(0);
  base = RssKb();

  {
    ProcOwnerDirectory owners(proc.root(), {});
    CloseWaitTracker tracker(config.close_wait.max_tracked);
    int64_t now = 1'000'000;
    ResetHwm();
    Poll(records, records.size(), config, owners, tracker, now += 15'000);
    const long peak = HwmKb() - base;
    const long steady = RssKb() - base;
    std::printf("\npoller protocol, %zu sockets (%zu CLOSE_WAIT)\n", sockets, close_wait);
    Row("  cold poll: peak (VmHWM)", peak, sockets);
    Row("  cold poll: RSS after", steady, sockets);
    for (int i = 0; i < 3; ++i)
      Poll(records, records.size(), config, owners, tracker, now += 15'000);
    Row("  after 3 warm polls: RSS", RssKb() - base, sockets);
    Row("  peak so far (VmHWM)", HwmKb() - base, sockets);
    const size_t few = std::max<size_t>(1, records.size() / 100);
    for (int i = 0; i < 5; ++i) Poll(records, few, config, owners, tracker, now += 15'000);
    std::printf("  then 5 polls of %zu sockets: %zu cached, %zu tracked\n", few,
                owners.cached_sockets(), tracker.tracked());
    Row("  RSS after them (no malloc_trim)", RssKb() - base, sockets);
    malloc_trim(0);
    Row("  RSS after malloc_trim", RssKb() - base, sockets);
  }
  return 0;
}
