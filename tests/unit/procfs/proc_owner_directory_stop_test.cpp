// The owner scan stops when the poller's stop flag is set (shutdown), and an
// aborted scan caches nothing as "searched and not found".
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "procfs/proc_owner_directory.h"
#include "support/fake_proc.h"

namespace tcpstate {
namespace {

using testing::FakeProc;

// Pids in the order readdir lists them under `root` (the order a scan visits).
std::vector<int> PidsInScanOrder(const std::filesystem::path& root) {
  std::vector<int> pids;
  DIR* dir = ::opendir(root.c_str());
  if (dir == nullptr) return pids;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9')
      pids.push_back(std::stoi(entry->d_name));
  }
  ::closedir(dir);
  return pids;
}

class ProcOwnerDirectoryStopTest : public ::testing::Test {
 protected:
  std::string Name(ProcOwnerDirectory& dir, uint32_t inode) {
    auto owner = dir.Lookup(inode);
    return owner ? dir.Owner(*owner).name : "(miss)";
  }

  FakeProc proc;
  std::atomic<bool> stop{false};
};

TEST_F(ProcOwnerDirectoryStopTest, ScanWithStopSetReadsNothingAndCachesNothing) {
  proc.AddProcess(100, "nginx", 1000);
  proc.AddSocketFd(100, 3, 5001);
  for (int pid = 300; pid < 400; ++pid) {
    proc.AddProcess(pid, "idle", 1);
    for (int fd = 0; fd < 5; ++fd) proc.AddOtherFd(pid, fd, "/dev/null");
  }
  ProcOwnerDirectory dir(proc.root(), {});
  dir.SetStopFlag(&stop);
  dir.BeginPoll();
  dir.Resolve(std::vector<uint32_t>{5001});
  EXPECT_EQ(Name(dir, 5001), "nginx");
  dir.EndPoll();
  const AttributionStats warm = dir.stats();

  // A new socket of the known owner and one held by nobody, with the stop flag set.
  proc.AddSocketFd(100, 4, 5002);
  stop = true;
  dir.BeginPoll();
  EXPECT_EQ(Name(dir, 5001), "nginx");
  const auto start = std::chrono::steady_clock::now();
  dir.Resolve(std::vector<uint32_t>{5002, 5999});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::milliseconds(50));
  EXPECT_EQ(dir.stats().fds_read, warm.fds_read);  // not one link read
  EXPECT_EQ(dir.stats().processes_scanned, warm.processes_scanned);
  EXPECT_EQ(dir.stats().full_scans, warm.full_scans);
  // Neither is cached, and above all not as "searched and not found".
  EXPECT_FALSE(dir.Lookup(5002).has_value());
  EXPECT_FALSE(dir.Lookup(5999).has_value());
  dir.EndPoll();

  // The next poll without the flag finds the owner at once.
  stop = false;
  dir.BeginPoll();
  EXPECT_FALSE(dir.Lookup(5002).has_value());
  EXPECT_FALSE(dir.Lookup(5999).has_value());
  dir.Resolve(std::vector<uint32_t>{5002, 5999});
  EXPECT_EQ(Name(dir, 5002), "nginx");
  EXPECT_EQ(Name(dir, 5999), "(unknown)");  // searched for real this time
  dir.EndPoll();
}

// The flag is set while the scan is inside a process (its stat is a FIFO that
// a helper thread answers only after setting the flag): the scan reads none of
// that process's 300 fd links, visits no further process, and caches no
// inode as not found.
TEST_F(ProcOwnerDirectoryStopTest, ScanStopsWithinOneProcessWhenStopIsSetMidScan) {
  constexpr int kSlowPid = 500;
  for (int pid = 450; pid < 550; ++pid) {
    if (pid == kSlowPid) continue;
    proc.AddProcess(pid, "idle", 1);
    proc.AddOtherFd(pid, 0, "/dev/null");  // exactly one link each
  }
  proc.AddProcess(kSlowPid, "slow", 7);
  for (int fd = 0; fd < 300; ++fd) proc.AddSocketFd(kSlowPid, fd, 70000 + fd);
  const auto stat_path = proc.root() / std::to_string(kSlowPid) / "stat";
  std::filesystem::remove(stat_path);
  ASSERT_EQ(::mkfifo(stat_path.c_str(), 0600), 0) << std::strerror(errno);

  // Answers every open of the FIFO (a scan reads a stat before and, when it
  // found something, after the fd links) until the scan returns; the first
  // answer comes only after setting the flag. Bounded: 10 s without a reader.
  std::atomic<int> answered{0};
  std::atomic<bool> resolved{false};
  std::thread answer([&] {
    // A reader gone between our open and write means EPIPE, not SIGPIPE.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    const std::string stat = "500 (slow) S 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 7 0 0\n";
    for (int idle = 0; idle < 10000 && !resolved; ++idle) {
      const int fd = ::open(stat_path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {  // ENXIO: no reader yet
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        continue;
      }
      stop = true;
      // The reader reads once: a pause before each answer keeps it from
      // seeing a pile of them (two still parse: the last "(comm)" counts).
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      if (::write(fd, stat.data(), stat.size()) == static_cast<ssize_t>(stat.size())) ++answered;
      ::close(fd);
      idle = 0;
    }
  });

  ProcOwnerDirectory dir(proc.root(), {});
  dir.SetStopFlag(&stop);
  dir.BeginPoll();
  dir.Resolve(std::vector<uint32_t>{70000 + 299, 99999});
  resolved = true;
  answer.join();
  ASSERT_GE(answered, 1) << "the scan never read " << stat_path;

  // Processes visited: those listed before the slow one, and the slow one.
  const auto order = PidsInScanOrder(proc.root());
  const auto slow = std::find(order.begin(), order.end(), kSlowPid);
  ASSERT_NE(slow, order.end());
  const auto before = static_cast<uint64_t>(slow - order.begin());
  EXPECT_EQ(dir.stats().processes_scanned, before + 1);
  EXPECT_EQ(dir.stats().fds_read, before);  // one each, none of the slow process's 300
  EXPECT_FALSE(dir.Lookup(70000 + 299).has_value());
  EXPECT_FALSE(dir.Lookup(99999).has_value());  // not "(unknown)": never searched for
  dir.EndPoll();

  // Readable again and no flag: the next poll finds the owner.
  std::filesystem::remove(stat_path);
  proc.WriteStat(kSlowPid, "slow", 7);
  stop = false;
  dir.BeginPoll();
  dir.Resolve(std::vector<uint32_t>{70000 + 299, 99999});
  EXPECT_EQ(Name(dir, 70000 + 299), "slow");
  EXPECT_EQ(Name(dir, 99999), "(unknown)");
  dir.EndPoll();
}

}  // namespace
}  // namespace tcpstate
