#include "procfs/proc_owner_directory.h"

#include <gtest/gtest.h>

#include <vector>

#include "fake_proc.h"

namespace tcpstate {
namespace {

using testing::FakeProc;

class ProcOwnerDirectoryTest : public ::testing::Test {
 protected:
  // One poll that needs `inodes`; returns the owner name per inode.
  std::vector<std::string> Poll(ProcOwnerDirectory& dir, const std::vector<uint32_t>& inodes) {
    dir.BeginPoll();
    std::vector<uint32_t> misses;
    for (uint32_t inode : inodes) {
      if (!dir.Lookup(inode)) misses.push_back(inode);
    }
    dir.Resolve(misses);
    std::vector<std::string> names;
    for (uint32_t inode : inodes) {
      auto owner = dir.Lookup(inode);
      names.push_back(owner ? dir.Owner(*owner).name : "(miss)");
    }
    dir.EndPoll();
    return names;
  }

  FakeProc proc;
};

TEST_F(ProcOwnerDirectoryTest, FindsOwnersFromFdLinks) {
  proc.AddProcess(100, "nginx", 1000);
  proc.AddSocketFd(100, 3, 5001);
  proc.AddOtherFd(100, 4, "/dev/null");
  proc.AddProcess(200, "java", 2000);
  proc.AddSocketFd(200, 7, 5002);
  ProcOwnerDirectory dir(proc.root(), {});
  auto names = Poll(dir, {5001, 5002, 5999});
  EXPECT_EQ(names[0], "nginx");
  EXPECT_EQ(names[1], "java");
  EXPECT_EQ(names[2], "(unknown)");  // searched, held by nobody visible
  EXPECT_EQ(dir.stats().full_scans, 1u);
}

TEST_F(ProcOwnerDirectoryTest, WarmPollReadsNoFdLinks) {
  proc.AddProcess(100, "nginx", 1000);
  for (int fd = 3; fd < 50; ++fd) proc.AddSocketFd(100, fd, 6000 + fd);
  ProcOwnerDirectory dir(proc.root(), {});
  std::vector<uint32_t> inodes;
  for (int fd = 3; fd < 50; ++fd) inodes.push_back(6000 + fd);
  Poll(dir, inodes);
  const uint64_t cold = dir.stats().fds_read;
  EXPECT_GE(cold, 47u);
  auto names = Poll(dir, inodes);
  EXPECT_EQ(dir.stats().fds_read, cold);  // nothing changed: no fd read at all
  EXPECT_EQ(names[10], "nginx");
}

TEST_F(ProcOwnerDirectoryTest, NewSocketScansKnownOwnersFirst) {
  proc.AddProcess(100, "nginx", 1000);
  proc.AddSocketFd(100, 3, 5001);
  for (int pid = 300; pid < 340; ++pid) {
    proc.AddProcess(pid, "idle", 1);
    proc.AddOtherFd(pid, 0, "/dev/null");
  }
  ProcOwnerDirectory dir(proc.root(), {});
  Poll(dir, {5001});
  const auto full_before = dir.stats().full_scans;
  proc.AddSocketFd(100, 4, 5002);
  auto names = Poll(dir, {5001, 5002});
  EXPECT_EQ(names[1], "nginx");
  EXPECT_EQ(dir.stats().full_scans, full_before);  // found among known owners
  EXPECT_EQ(dir.stats().partial_scans, 1u);
}

TEST_F(ProcOwnerDirectoryTest, ReusedPidIsNotTrusted) {
  proc.AddProcess(100, "nginx", 1000);
  proc.AddSocketFd(100, 3, 5001);
  ProcOwnerDirectory dir(proc.root(), {});
  EXPECT_EQ(Poll(dir, {5001})[0], "nginx");
  // nginx exits; a new process gets pid 100 and happens to hold the inode.
  proc.RemoveProcess(100);
  proc.AddProcess(100, "evil", 5000);
  proc.AddSocketFd(100, 3, 5001);
  EXPECT_EQ(Poll(dir, {5001})[0], "evil");
}

TEST_F(ProcOwnerDirectoryTest, RenamedProcessIsRelabelled) {
  proc.AddProcess(100, "bash", 1000);
  proc.AddSocketFd(100, 3, 5001);
  ProcOwnerDirectory dir(proc.root(), {});
  EXPECT_EQ(Poll(dir, {5001})[0], "bash");
  proc.WriteStat(100, "python3", 1000);  // exec keeps pid and start time
  EXPECT_EQ(Poll(dir, {5001})[0], "python3");
}

TEST_F(ProcOwnerDirectoryTest, GroupsMapNamesByRegex) {
  proc.AddProcess(100, "java", 1);
  proc.AddSocketFd(100, 3, 1);
  proc.AddProcess(101, "php-fpm7.4", 1);
  proc.AddSocketFd(101, 3, 2);
  proc.AddProcess(102, "curl", 1);
  proc.AddSocketFd(102, 3, 3);
  ProcessGroup php{"php", "^php-fpm", std::make_shared<const re2::RE2>("^php-fpm")};
  ProcOwnerDirectory dir(proc.root(), {php});
  auto names = Poll(dir, {1, 2, 3});
  EXPECT_EQ(names[0], "java");
  EXPECT_EQ(names[1], "php");
  EXPECT_EQ(names[2], "curl");
}

TEST_F(ProcOwnerDirectoryTest, HostileNamesBecomeValidUtf8) {
  proc.AddProcess(100, std::string("a\xff\"b\\c\nd) (x"), 1);
  proc.AddSocketFd(100, 3, 1);
  ProcOwnerDirectory dir(proc.root(), {});
  const std::string name = Poll(dir, {1})[0];
  EXPECT_EQ(name,
            "a\xEF\xBF\xBD\"b\\c\xEF\xBF\xBD"
            "d) (x");
}

TEST_F(ProcOwnerDirectoryTest, ExitedOwnerIsForgotten) {
  proc.AddProcess(100, "worker", 1);
  proc.AddSocketFd(100, 3, 1);
  ProcOwnerDirectory dir(proc.root(), {});
  EXPECT_EQ(Poll(dir, {1})[0], "worker");
  proc.RemoveProcess(100);
  proc.AddProcess(101, "heir", 1);  // inherited the socket (fork + exit)
  proc.AddSocketFd(101, 3, 1);
  EXPECT_EQ(Poll(dir, {1})[0], "heir");
}

TEST_F(ProcOwnerDirectoryTest, VanishedCacheEntriesAreEvicted) {
  proc.AddProcess(100, "nginx", 1);
  proc.AddSocketFd(100, 3, 1);
  proc.AddSocketFd(100, 4, 2);
  ProcOwnerDirectory dir(proc.root(), {});
  Poll(dir, {1, 2});
  EXPECT_EQ(dir.cached_sockets(), 2u);
  Poll(dir, {1});
  EXPECT_EQ(dir.cached_sockets(), 1u);
}

}  // namespace
}  // namespace tcpstate
