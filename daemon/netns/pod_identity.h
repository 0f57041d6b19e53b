// Which Kubernetes pod a process belongs to, read from its cgroup path
// (/proc/<pid>/cgroup). Kubelet encodes the pod UID in the path under both
// cgroup drivers and both cgroup versions:
//   cgroupfs: /kubepods/burstable/pod1b2c...-.../<container id>
//   systemd:  /kubepods.slice/kubepods-burstable.slice/
//             kubepods-burstable-pod1b2c..._....slice/cri-containerd-<id>.scope
#pragma once

#include <string>
#include <string_view>

namespace tcpstate {

struct PodIdentity {
  std::string pod_uid;       // with dashes, as in the API (metadata.uid)
  std::string container_id;  // runtime prefix and .scope removed
  bool found() const { return !pod_uid.empty(); }
};

// Parses the content of /proc/<pid>/cgroup (any line may carry the path).
PodIdentity ParsePodIdentity(std::string_view cgroup_file);

}  // namespace tcpstate
