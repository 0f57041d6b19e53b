// Files in a pod's root are hostile (netns/pod_files.h), and so is anything
// that names a pod (netns/pod_identifier.h).
#include "netns/pod_files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "fake_proc.h"
#include "netns/pod_identifier.h"
#include "netns/pod_identity.h"

namespace tcpstate {
namespace {

namespace fs = std::filesystem;
using testing::FakeProc;

constexpr const char* kUid = "1b2c3d4e-1111-2222-3333-444455556666";
constexpr const char* kCgroup =
    "0::/kubepods/burstable/pod1b2c3d4e-1111-2222-3333-444455556666/"
    "0123456789abcdef0123456789abcdef\n";

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

TEST(KubeletPodLogDir, ParsesNamespaceNameAndUid) {
  std::string ns, name, uid;
  ASSERT_TRUE(ParseKubeletPodLogDir(
      "payments_api-7d4f9c-x2x8q_1b2c3d4e-1111-2222-3333-444455556666", &ns, &name, &uid));
  EXPECT_EQ(ns, "payments");
  EXPECT_EQ(name, "api-7d4f9c-x2x8q");
  EXPECT_EQ(uid, kUid);
  ASSERT_TRUE(ParseKubeletPodLogDir(
      "kube-system_etcd-node1.example.com_1b2c3d4e-1111-2222-3333-444455556666", &ns, &name, &uid));
  EXPECT_EQ(name, "etcd-node1.example.com");
}

TEST(KubeletPodLogDir, RejectsWhatTheApiServerWouldNot) {
  std::string ns, name, uid;
  for (const char* bad : {
           ".", "..", "payments", "payments_api",
           "Payments_api_1b2c3d4e-1111-2222-3333-444455556666",    // upper case
           "pay_ments_api_1b2c3d4e-1111-2222-3333-444455556666",   // '_' in a part
           "payments_api\n_1b2c3d4e-1111-2222-3333-444455556666",  // control character
           "payments_api_1b2c3d4e-1111-2222-3333-44445555666",     // short uid
           "payments__1b2c3d4e-1111-2222-3333-444455556666",       // empty name
           "payments_-api_1b2c3d4e-1111-2222-3333-444455556666",   // leading '-'
           "payments_api_1B2C3D4E-1111-2222-3333-444455556666",    // upper-case uid
       }) {
    EXPECT_FALSE(ParseKubeletPodLogDir(bad, &ns, &name, &uid)) << bad;
  }
  EXPECT_FALSE(ParseKubeletPodLogDir(std::string(64, 'a') + "_api_" + kUid, &ns, &name, &uid));
}

TEST(PodIdentity, NestedCgroupsCannotPoseAsAnotherPod) {
  // With a delegated hierarchy a container may create cgroups below its own,
  // named like another pod's: the kubelet's level (the first) wins.
  auto pod = ParsePodIdentity(
      "0::/kubepods/burstable/pod1b2c3d4e-1111-2222-3333-444455556666/"
      "0123456789abcdef0123456789abcdef/kubepods/pod99999999-9999-9999-9999-999999999999/"
      "fedcba9876543210fedcba9876543210\n");
  EXPECT_EQ(pod.pod_uid, kUid);
  EXPECT_EQ(pod.container_id, "0123456789abcdef0123456789abcdef");
}

NetnsInfo PodNetns(uint64_t inode, int32_t pid) {
  NetnsInfo info;
  info.inode = inode;
  info.pids = {pid};
  return info;
}

TEST(PodIdentifier, NamesComeFromTheKubeletsDirectoryNotThePod) {
  FakeProc proc;
  proc.Write("42/cgroup", kCgroup);
  proc.Write("42/root/etc/hostname", "someone-else\n");  // ignored in kubelet mode
  const auto logs = proc.root() / "var-log-pods";
  fs::create_directories(logs / ("payments_api-0_" + std::string(kUid)));
  fs::create_directories(logs / "junk_entry");
  PodIdentifier::Options options;
  options.proc_root = proc.root().string();
  options.kubelet_pod_logs_dir = logs.string();
  PodIdentifier pods(options);
  pods.BeginPoll();
  NetnsInfo info = PodNetns(7, 42);
  EXPECT_TRUE(pods.Identify(info));
  EXPECT_EQ(info.pod.pod_uid, kUid);
  EXPECT_EQ(info.pod_name, "api-0");
  EXPECT_EQ(info.pod_namespace, "payments");
}

TEST(PodIdentifier, APodNotYetInTheKubeletsDirectoryIsAskedForAgain) {
  FakeProc proc;
  proc.Write("42/cgroup", kCgroup);
  const auto logs = proc.root() / "var-log-pods";
  fs::create_directories(logs);
  PodIdentifier::Options options;
  options.proc_root = proc.root().string();
  options.kubelet_pod_logs_dir = logs.string();
  PodIdentifier pods(options);
  pods.BeginPoll();
  NetnsInfo info = PodNetns(7, 42);
  EXPECT_FALSE(pods.Identify(info));
  EXPECT_EQ(info.pod.pod_uid, kUid);
  EXPECT_EQ(info.pod_name, "");
  EXPECT_EQ(pods.stats().failures_total.at("kubelet_unknown"), 1u);
  fs::create_directories(logs / ("payments_api-0_" + std::string(kUid)));
  pods.BeginPoll();
  EXPECT_TRUE(pods.Identify(info));
  EXPECT_EQ(info.pod_name, "api-0");
}

TEST(PodIdentifier, PodModeReadsThePodsFilesInsideItsRoot) {
  FakeProc proc;
  proc.Write("42/cgroup", kCgroup);
  proc.Write("42/root/etc/hostname", "web-0\n");
  proc.Write("42/root/run/secrets/kubernetes.io/serviceaccount/namespace", "shop\n");
  fs::create_directories(proc.root() / "42/root/var");
  fs::create_symlink("/run", proc.root() / "42/root/var/run");
  PodIdentifier::Options options;
  options.source = PodNameSource::kPod;
  options.proc_root = proc.root().string();
  PodIdentifier pods(options);
  pods.BeginPoll();
  NetnsInfo info = PodNetns(7, 42);
  EXPECT_TRUE(pods.Identify(info));
  EXPECT_EQ(info.pod_name, "web-0");
  EXPECT_EQ(info.pod_namespace, "shop");
}

// A read stuck in the kernel (a FUSE lookup in the pod) costs the poll at
// most the budget, and is never started twice.
TEST(PodIdentifier, AStuckReadNeitherStallsThePollNorPilesUp) {
  FakeProc proc;
  proc.Write("42/cgroup", kCgroup);
  proc.Write("43/cgroup",
             "0::/kubepods/pod2b2c3d4e-1111-2222-3333-444455556666/"
             "0123456789abcdef0123456789abcdef\n");
  struct Gate {
    std::mutex mutex;
    std::condition_variable cv;
    bool open = false;
    int started = 0;
  };
  auto gate = std::make_shared<Gate>();
  PodIdentifier::Options options;
  options.source = PodNameSource::kPod;
  options.proc_root = proc.root().string();
  options.wait_budget = std::chrono::milliseconds(100);
  options.max_in_flight = 1;
  PodIdentifier pods(options, [gate](int32_t) {
    std::unique_lock lock(gate->mutex);
    ++gate->started;
    gate->cv.wait(lock, [&] { return gate->open; });
    return PodSuppliedNames{"late", "ns", PodFileProblem::kNone, PodFileProblem::kNone};
  });
  NetnsInfo stuck = PodNetns(7, 42);
  NetnsInfo other = PodNetns(8, 43);
  for (int poll = 0; poll < 3; ++poll) {
    pods.BeginPoll();
    const auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(pods.Identify(stuck));
    EXPECT_FALSE(pods.Identify(other));  // busy: the one slot is taken
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1000));
    pods.Retain({7, 8});
  }
  {
    std::lock_guard lock(gate->mutex);
    EXPECT_EQ(gate->started, 1) << "a stuck read was started again";
  }
  EXPECT_EQ(pods.stats().reads_in_flight, 1u);
  EXPECT_EQ(pods.stats().failures_total.at("timeout"), 3u);
  EXPECT_EQ(pods.stats().failures_total.at("busy"), 3u);
  EXPECT_EQ(stuck.pod_name, "");
  {
    std::lock_guard lock(gate->mutex);
    gate->open = true;
  }
  gate->cv.notify_all();
  pods.BeginPoll();
  EXPECT_TRUE(pods.Identify(stuck));
  EXPECT_EQ(stuck.pod_name, "late");
}

}  // namespace
}  // namespace tcpstate
