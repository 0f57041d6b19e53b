#include "poller/namespace_targets.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

namespace tcpstate {
namespace {

std::vector<std::pair<std::string, std::string>> LabelsFor(const NetnsInfo& netns) {
  std::vector<std::pair<std::string, std::string>> labels;
  labels.emplace_back("netns", netns.host ? "host" : std::to_string(netns.inode));
  if (!netns.pod.pod_uid.empty()) labels.emplace_back("pod_uid", netns.pod.pod_uid);
  if (!netns.pod_namespace.empty()) labels.emplace_back("pod_namespace", netns.pod_namespace);
  if (!netns.pod_name.empty()) labels.emplace_back("pod_name", netns.pod_name);
  return labels;
}

}  // namespace

NamespaceTargets::NamespaceTargets(const Config& config, Activity activity)
    : config_(config), activity_(std::move(activity)), pods_(MakePodIdentifier()) {
  char link[64];
  const ssize_t n = ::readlink("/proc/thread-self/ns/net", link, sizeof(link));
  if (n > 0) ParseNetnsLink(std::string_view(link, static_cast<size_t>(n)), &own_netns_);
}

NamespaceTargets::~NamespaceTargets() = default;

std::unique_ptr<PodIdentifier> NamespaceTargets::MakePodIdentifier() const {
  PodIdentifier::Options options;
  using PodNames = Config::Namespaces::PodNames;
  switch (config_.namespaces.pod_names) {
    case PodNames::kKubelet:
      options.source = PodNameSource::kKubelet;
      break;
    case PodNames::kPod:
      options.source = PodNameSource::kPod;
      break;
    case PodNames::kNone:
      options.source = PodNameSource::kNone;
      break;
  }
  options.proc_root = config_.proc_root;
  options.kubelet_pod_logs_dir = config_.namespaces.kubelet_pod_logs_dir;
  // Pod files are tiny: a read that takes longer than this is stuck.
  options.wait_budget = std::min(config_.namespaces.read_timeout, std::chrono::milliseconds(1000));
  return std::make_unique<PodIdentifier>(std::move(options));
}

std::unique_ptr<CloseWaitTracker> NamespaceTargets::MakeTracker() const {
  return std::make_unique<CloseWaitTracker>(config_.close_wait.max_tracked);
}

void NamespaceTargets::Reconfigure(bool mode_changed) {
  for (auto& [key, target] : targets_) {
    target.tracker->set_max_tracked(config_.close_wait.max_tracked);
  }
  if (mode_changed) {
    targets_.clear();  // labels change: start afresh
    pods_ = MakePodIdentifier();
  }
}

std::vector<Target*> NamespaceTargets::Select(NetnsStats& stats) {
  if (config_.namespaces.mode == Config::Namespaces::Mode::kHost) {
    auto& target = targets_[0];
    if (!target.tracker) target.tracker = MakeTracker();
    return {&target};
  }
  activity_("discovering network namespaces and pods below " + config_.proc_root);
  DiscoveryStats discovery;
  auto found = DiscoverNetns(config_.proc_root, own_netns_, discovery);
  stats.unreadable = discovery.unreadable;
  if (discovery.unreadable > 0 && !warned_discovery_) {
    spdlog::warn(
        "cannot read the network namespace of {} processes (needs CAP_SYS_PTRACE): "
        "their pods are not read",
        discovery.unreadable);
    warned_discovery_ = true;
  }
  stats.over_cap =
      found.size() > config_.namespaces.max ? found.size() - config_.namespaces.max : 0;
  if (found.size() > config_.namespaces.max) found.resize(config_.namespaces.max);
  std::map<uint64_t, Target> kept;
  std::vector<uint64_t> order;
  std::set<uint64_t> present;
  pods_->BeginPoll();
  activity_("identifying pods (" + config_.proc_root + "/<pid>/cgroup)");
  for (auto& info : found) {
    auto it = targets_.find(info.inode);
    Target target;
    if (it != targets_.end()) {
      target = std::move(it->second);
      target.netns.pids = info.pids;  // members change; identity does not
    } else {
      target.netns = std::move(info);
      target.tracker = MakeTracker();
    }
    if (!target.identity_final) {
      target.identity_final = pods_->Identify(target.netns);
      target.data.labels = LabelsFor(target.netns);
    }
    order.push_back(target.netns.inode);
    present.insert(target.netns.inode);
    kept.emplace(target.netns.inode, std::move(target));
  }
  pods_->Retain(present);
  stats.pod_identity_failures_total = pods_->stats().failures_total;
  stats.pod_identity_reads_in_flight = pods_->stats().reads_in_flight;
  targets_ = std::move(kept);  // namespaces that are gone leave no series
  std::vector<Target*> selected;
  for (uint64_t inode : order) selected.push_back(&targets_.at(inode));
  return selected;
}

bool NamespaceTargets::RunIn(Target& target, NetnsStats& stats,
                             const std::function<void(bool entered)>& read) {
  const NetnsInfo& netns = target.netns;
  if (netns.inode == 0 || netns.inode == own_netns_) {
    // Host mode, or mode all's entry for our own namespace: no setns, but
    // in mode all the reads still go through /proc/thread-self.
    read(netns.inode != 0);
    return true;
  }
  activity_("opening network namespace " + std::to_string(netns.inode) + " below " +
            config_.proc_root);
  auto fd = OpenNetns(config_.proc_root, netns);
  if (!fd.ok()) {
    if (fd.error().errnum == ENOENT || fd.error().errnum == ESRCH) {
      ++stats.vanished_total;  // quietly: pods come and go
    } else {
      ++stats.enter_failures_total;
      if (!warned_enter_) {
        spdlog::warn("cannot open network namespaces ({}): pods are not read; needs CAP_SYS_PTRACE",
                     fd.error().message);
        warned_enter_ = true;
      }
    }
    return false;
  }
  if (!thread_) thread_ = std::make_unique<NamespaceThread>();
  const Status entered = thread_->RunIn(*fd, [&] { read(true); });
  if (!entered.ok()) {
    ++stats.enter_failures_total;
    if (!warned_enter_) {
      spdlog::warn("cannot enter network namespaces ({}): pods are not read; needs CAP_SYS_ADMIN",
                   entered.error().message);
      warned_enter_ = true;
    }
    return false;
  }
  return true;
}

void NamespaceTargets::ReturnHome() {
  if (thread_) thread_->ReturnHome();
}

uint64_t NamespaceTargets::close_wait_tracked() const {
  uint64_t tracked = 0;
  for (const auto& [key, target] : targets_) {
    if (target.tracker) tracked += target.tracker->tracked();
  }
  return tracked;
}

}  // namespace tcpstate
