// Anything that names a pod is hostile (netns/pod_identifier.h): names come from
// the kubelet's directory or, in mode pod, from bounded reads inside the pod.
#include "netns/pod_identifier.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "netns/pod_files.h"
#include "netns/pod_identity.h"
#include "support/fake_proc.h"

namespace tcpstate {
namespace {

namespace fs = std::filesystem;
using testing::FakeProc;

constexpr const char* kUid = "1b2c3d4e-1111-2222-3333-444455556666";
constexpr const char* kCgroup =
    "0::/kubepods/burstable/pod1b2c3d4e-1111-2222-3333-444455556666/"
    "0123456789abcdef0123456789abcdef\n";

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
  EXPECT_EQ(pods.stats().failures_total[static_cast<size_t>(PodIdentityFailure::kKubeletUnknown)],
            1u);
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
  EXPECT_EQ(pods.stats().failures_total[static_cast<size_t>(PodIdentityFailure::kTimeout)], 3u);
  EXPECT_EQ(pods.stats().failures_total[static_cast<size_t>(PodIdentityFailure::kBusy)], 3u);
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
