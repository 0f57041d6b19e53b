// Files in a pod's root are hostile (netns/pod_files.h).
#include "netns/pod_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "support/fake_proc.h"

namespace tcpstate {
namespace {

namespace fs = std::filesystem;
using testing::FakeProc;

// A pod's root directory beside a "host" file the pod must never reach.
class PodRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = proc_.root() / "pod-root";
    fs::create_directories(root_ / "etc");
    host_secret_ = proc_.root() / "host-secret";
    std::ofstream(host_secret_) << "HOST-SECRET\n";
  }
  void Write(const std::string& relative, const std::string& content) {
    fs::create_directories((root_ / relative).parent_path());
    std::ofstream(root_ / relative) << content;
  }
  void Link(const std::string& target, const std::string& relative) {
    fs::create_directories((root_ / relative).parent_path());
    fs::create_symlink(target, root_ / relative);
  }
  PodFile Read(const std::string& relative, size_t limit = 256) {
    UniqueFd root(::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    return ReadPodFile(root, relative, limit);
  }

  FakeProc proc_;
  fs::path root_;
  fs::path host_secret_;
};

TEST_F(PodRoot, ReadsARegularFile) {
  Write("etc/hostname", "web-7d4f\n");
  const PodFile file = Read("etc/hostname");
  ASSERT_TRUE(file.ok()) << PodFileProblemLabel(file.problem);
  EXPECT_EQ(file.content, "web-7d4f\n");
}

TEST_F(PodRoot, AbsoluteSymlinkResolvesInsideThePod) {
  // Outside the pod's root, the kernel would follow this to the host file.
  Link(host_secret_.string(), "etc/hostname");
  const PodFile file = Read("etc/hostname");
  EXPECT_EQ(file.problem, PodFileProblem::kMissing);
  EXPECT_EQ(file.content.find("HOST-SECRET"), std::string::npos);
}

TEST_F(PodRoot, DotDotCannotClimbOutOfThePod) {
  Link("../../../../../../../../" + host_secret_.filename().string(), "etc/hostname");
  Link("../host-secret", "etc/relative");
  EXPECT_EQ(Read("etc/hostname").problem, PodFileProblem::kMissing);
  EXPECT_EQ(Read("etc/relative").problem, PodFileProblem::kMissing);
  EXPECT_EQ(Read("../host-secret").problem, PodFileProblem::kMissing);
}

TEST_F(PodRoot, LegitimateLinksInsideThePodStillWork) {
  // /var/run -> /run (Debian images) and a projected service-account volume
  // (namespace -> ..data/namespace, ..data -> a timestamped directory).
  Link("/run", "var/run");
  Write("run/secrets/kubernetes.io/serviceaccount/..2026_12_03/namespace", "payments\n");
  Link("..2026_12_03", "run/secrets/kubernetes.io/serviceaccount/..data");
  Link("..data/namespace", "run/secrets/kubernetes.io/serviceaccount/namespace");
  const PodFile file = Read("var/run/secrets/kubernetes.io/serviceaccount/namespace");
  ASSERT_TRUE(file.ok()) << PodFileProblemLabel(file.problem);
  EXPECT_EQ(file.content, "payments\n");
}

TEST_F(PodRoot, SymlinkLoopsFail) {
  Link("b", "etc/a");
  Link("a", "etc/b");
  EXPECT_EQ(Read("etc/a").problem, PodFileProblem::kSymlinkLoop);
}

TEST_F(PodRoot, AFifoIsNeverOpenedSoNeverBlocks) {
  ASSERT_EQ(::mkfifo((root_ / "etc/hostname").c_str(), 0644), 0);
  // A blocking open() of a FIFO without a writer never returns: run it in a
  // thread and fail (rather than hang) if it does not come back.
  std::atomic<bool> done{false};
  PodFile file;
  std::thread reader([&] {
    file = Read("etc/hostname");
    done = true;
  });
  for (int i = 0; i < 200 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (!done) {
    // Unblock it so the test can end: a writer lets open() return.
    const int writer = ::open((root_ / "etc/hostname").c_str(), O_WRONLY | O_NONBLOCK);
    reader.join();
    if (writer >= 0) ::close(writer);
    FAIL() << "reading a FIFO in the pod blocked";
  }
  reader.join();
  EXPECT_EQ(file.problem, PodFileProblem::kNotRegular);
}

TEST_F(PodRoot, DevicesSocketsAndDirectoriesAreNotRead) {
  fs::create_directories(root_ / "etc/hostname");
  EXPECT_EQ(Read("etc/hostname").problem, PodFileProblem::kNotRegular);
  if (::geteuid() == 0) {
    // /dev/zero's numbers: it would never end if read.
    ASSERT_EQ(::mknod((root_ / "etc/zero").c_str(), S_IFCHR | 0644, makedev(1, 5)), 0);
    EXPECT_EQ(Read("etc/zero").problem, PodFileProblem::kNotRegular);
  }
  Link("/etc/zero", "etc/zero-link");
  if (::geteuid() == 0) {
    EXPECT_EQ(Read("etc/zero-link").problem, PodFileProblem::kNotRegular);
  }
}

TEST_F(PodRoot, HugeAndSparseFilesAreRefusedWithoutReadingThem) {
  { std::ofstream(root_ / "etc/hostname") << std::string(300, 'a'); }
  EXPECT_EQ(Read("etc/hostname", 256).problem, PodFileProblem::kTooLarge);
  // 1 TiB, sparse: only its size is looked at.
  const auto sparse = root_ / "etc/sparse";
  std::ofstream(sparse).close();
  fs::resize_file(sparse, uint64_t{1} << 40);
  EXPECT_EQ(Read("etc/sparse", 256).problem, PodFileProblem::kTooLarge);
  Write("etc/exact", std::string(256, 'b'));
  EXPECT_TRUE(Read("etc/exact", 256).ok());
}

TEST_F(PodRoot, MissingFile) { EXPECT_EQ(Read("etc/nothing").problem, PodFileProblem::kMissing); }

}  // namespace
}  // namespace tcpstate
