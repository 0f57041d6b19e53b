// Who a network namespace belongs to: the pod UID from the kernel's cgroup
// path of its processes (trusted: the kubelet names the cgroups), and the
// pod's name and Kubernetes namespace from a source chosen by
// namespaces.pod_names:
//   kubelet  the kubelet's pod log directories on the node,
//            <kubelet_pod_logs_dir>/<namespace>_<name>_<uid>: written by the
//            kubelet from the API object, so a pod cannot choose them;
//   pod      the pod's own /etc/hostname and service-account namespace file:
//            the pod supplies them (any pod can claim another's name), read
//            with netns/pod_files.h off the poll thread under a deadline;
//   none     pod_uid only (join with kube_pod_info in PromQL).
//
// Not thread-safe: used by the poll thread only. Its background reads (pod
// mode) share nothing with it but their own result slot.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "netns/netns_discovery.h"
#include "netns/pod_files.h"
#include "netns/pod_identity_failure.h"

namespace tcpstate {

enum class PodNameSource { kKubelet, kPod, kNone };

// What the pod's own files say (pod mode).
struct PodSuppliedNames {
  std::string name;
  std::string ns;
  PodFileProblem name_problem = PodFileProblem::kNone;
  PodFileProblem ns_problem = PodFileProblem::kNone;
};

// Reads /etc/hostname and the service-account namespace file of `pid`'s root.
PodSuppliedNames ReadPodSuppliedNames(const std::string& proc_root, int32_t pid);

// "<namespace>_<name>_<uid>", each part checked against what the API server
// allows (DNS label, DNS subdomain, UID); false for anything else.
bool ParseKubeletPodLogDir(std::string_view entry, std::string* ns, std::string* name,
                           std::string* uid);

struct PodIdentityStats {
  // By reason (netns/pod_identity_failure.h), every reason from the start.
  std::array<uint64_t, kPodIdentityFailureCount> failures_total{};  // by PodIdentityFailure
  uint64_t reads_in_flight = 0;  // pod mode: background reads not finished
};

class PodIdentifier {
 public:
  struct Options {
    PodNameSource source = PodNameSource::kKubelet;
    std::string proc_root = "/proc";
    std::string kubelet_pod_logs_dir = "/var/log/pods";
    // Pod mode: how long one poll waits in total for pod files.
    std::chrono::milliseconds wait_budget{1000};
    // Pod mode: background reads that may be stuck at once.
    size_t max_in_flight = 4;
  };
  using SuppliedNamesReader = std::function<PodSuppliedNames(int32_t pid)>;

  // `read_files` replaces ReadPodSuppliedNames in tests.
  explicit PodIdentifier(Options options, SuppliedNamesReader read_files = nullptr);
  ~PodIdentifier();
  PodIdentifier(const PodIdentifier&) = delete;
  PodIdentifier& operator=(const PodIdentifier&) = delete;

  // Once per poll, before Identify(): resets the per-poll budgets.
  void BeginPoll();
  // Fills info.pod, info.pod_name and info.pod_namespace. True when the
  // identity is final; false when names may still come (ask again next poll).
  bool Identify(NetnsInfo& info);
  // Forgets finished background reads of namespaces not in `present`.
  void Retain(const std::set<uint64_t>& present);

  const PodIdentityStats& stats() const { return stats_; }

 private:
  struct Job;
  bool NamesFromKubelet(NetnsInfo& info);
  bool NamesFromPod(NetnsInfo& info);
  void Fail(PodIdentityFailure reason) { ++stats_.failures_total[static_cast<size_t>(reason)]; }

  Options options_;
  SuppliedNamesReader read_files_;
  PodIdentityStats stats_;
  // kubelet: UID -> (namespace, name), from the latest listing.
  std::unordered_map<std::string, std::pair<std::string, std::string>> kubelet_pods_;
  bool listed_this_poll_ = false;
  // pod: background reads by namespace inode.
  std::unordered_map<uint64_t, std::shared_ptr<Job>> jobs_;
  std::chrono::steady_clock::time_point budget_end_;
};

}  // namespace tcpstate
