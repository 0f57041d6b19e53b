#include "netns/pod_identity.h"

#include <gtest/gtest.h>

namespace tcpstate {
namespace {

constexpr const char* kUid = "1b2c3d4e-1111-2222-3333-444455556666";

TEST(PodIdentity, CgroupfsDriverV1) {
  auto pod = ParsePodIdentity(
      "12:pids:/kubepods/burstable/pod1b2c3d4e-1111-2222-3333-444455556666/"
      "0123456789abcdef0123456789abcdef\n"
      "0::/\n");
  EXPECT_EQ(pod.pod_uid, kUid);
  EXPECT_EQ(pod.container_id, "0123456789abcdef0123456789abcdef");
}

TEST(PodIdentity, SystemdDriverV2) {
  auto pod = ParsePodIdentity(
      "0::/kubepods.slice/kubepods-besteffort.slice/"
      "kubepods-besteffort-pod1b2c3d4e_1111_2222_3333_444455556666.slice/"
      "cri-containerd-abcdef0123456789abcdef0123456789.scope\n");
  EXPECT_EQ(pod.pod_uid, kUid);
  EXPECT_EQ(pod.container_id, "abcdef0123456789abcdef0123456789");
}

TEST(PodIdentity, GuaranteedQosAndCrio) {
  auto pod = ParsePodIdentity(
      "0::/kubepods.slice/kubepods-pod1b2c3d4e_1111_2222_3333_444455556666.slice/"
      "crio-abcdef0123456789abcdef.scope\n");
  EXPECT_EQ(pod.pod_uid, kUid);
  EXPECT_EQ(pod.container_id, "abcdef0123456789abcdef");
}

TEST(PodIdentity, NotAPod) {
  EXPECT_FALSE(ParsePodIdentity("0::/system.slice/sshd.service\n").found());
  EXPECT_FALSE(ParsePodIdentity("0::/kubepods/besteffort/podnot-a-uid/x\n").found());
  EXPECT_FALSE(ParsePodIdentity("").found());
  // A pod-level cgroup without a container below it still names the pod.
  auto pod = ParsePodIdentity("0::/kubepods/pod1b2c3d4e-1111-2222-3333-444455556666\n");
  EXPECT_EQ(pod.pod_uid, kUid);
  EXPECT_EQ(pod.container_id, "");
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

}  // namespace
}  // namespace tcpstate
