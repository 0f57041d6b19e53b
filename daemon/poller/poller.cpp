#include "poller/poller.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <set>
#include <thread>

#include "aggregate/poll_aggregator.h"

namespace tcpstate {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
      .count();
}

double UnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Sysctls of pod namespaces (limits a pod rarely changes) are re-read this
// often, the node's every poll: 15 file reads per pod and poll otherwise.
constexpr std::chrono::seconds kPodSysctlRefresh{60};

constexpr const char* kNetlinkReasons[] = {"socket",      "send",       "recv",
                                           "truncated",   "malformed",  "sequence",
                                           "nlmsg_error", "done_error", "interrupted"};

bool SameGroups(const std::vector<ProcessGroup>& a, const std::vector<ProcessGroup>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.name == y.name && x.pattern == y.pattern;
  });
}

std::vector<std::pair<std::string, std::string>> LabelsFor(const NetnsInfo& netns) {
  std::vector<std::pair<std::string, std::string>> labels;
  labels.emplace_back("netns", netns.host ? "host" : std::to_string(netns.inode));
  if (!netns.pod.pod_uid.empty()) labels.emplace_back("pod_uid", netns.pod.pod_uid);
  if (!netns.pod_namespace.empty()) labels.emplace_back("pod_namespace", netns.pod_namespace);
  if (!netns.pod_name.empty()) labels.emplace_back("pod_name", netns.pod_name);
  return labels;
}

}  // namespace

struct Poller::Visit {
  Target* target = nullptr;
  std::unique_ptr<PollAggregator> aggregator;
  Status status = OkStatus();
  TableReadStats stats;
  double sock_diag_seconds = 0;
  bool kernel_up = false;
  bool netstat_up = false;
  double kernel_seconds = 0;
  double netstat_seconds = 0;
  bool skipped = false;  // vanished or not enterable: no data this poll
};

Poller::Poller(Config config, std::unique_ptr<TransportFactory> transports,
               SnapshotSink& output)
    : config_(std::move(config)), transports_(std::move(transports)), output_(output) {
  reader_ = std::make_unique<TcpTableReader>(*transports_, config_.poll.netlink_dump_retries);
  if (config_.processes.enabled) owners_ = MakeOwnerDirectory();
  pods_ = MakePodIdentifier();
  for (const char* reason : kNetlinkReasons) self_.netlink_errors[reason] = 0;
  self_.attribution_enabled = config_.processes.enabled;
  reload_.last_success_timestamp_seconds = UnixSeconds();  // the start-up load
  interval_seconds_ = std::chrono::duration<double>(config_.poll.interval).count();
  char link[64];
  const ssize_t n = ::readlink("/proc/thread-self/ns/net", link, sizeof(link));
  if (n > 0) ParseNetnsLink(std::string_view(link, static_cast<size_t>(n)), &own_netns_);
}

Poller::~Poller() = default;

std::unique_ptr<ProcOwnerDirectory> Poller::MakeOwnerDirectory() {
  auto owners = std::make_unique<ProcOwnerDirectory>(config_.proc_root, config_.processes.groups);
  owners->SetStopFlag(&stopping_);  // a scan in progress at shutdown stops within one read
  return owners;
}

std::unique_ptr<PodIdentifier> Poller::MakePodIdentifier() const {
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

bool Poller::ReadyAt(double now_unix) const {
  const double last = last_success_unix_.load();
  const double allowed = std::max(60.0, 3 * interval_seconds_.load());
  return last > 0 && now_unix - last <= allowed;
}

bool Poller::Ready() const { return ReadyAt(UnixSeconds()); }

void Poller::SetActivity(std::string what) {
  std::lock_guard lock(activity_mutex_);
  activity_ = std::move(what);
}

std::string Poller::activity() const {
  std::lock_guard lock(activity_mutex_);
  return activity_;
}

void Poller::UpdateConfig(Config config) {
  std::lock_guard lock(pending_mutex_);
  pending_config_ = std::move(config);
}

void Poller::ReloadSucceeded() { RecordReload(nullptr); }

void Poller::ReloadFailed(const ReloadFailure& failure) { RecordReload(&failure); }

void Poller::RecordReload(const ReloadFailure* failure) {
  std::lock_guard lock(publish_mutex_);
  reload_.last_successful = failure == nullptr;
  reload_.failure = failure ? *failure : ReloadFailure{};
  if (failure) {
    ++reload_.failure_total;
  } else {
    ++reload_.success_total;
    reload_.last_success_timestamp_seconds = UnixSeconds();
  }
  // Before the first poll there is nothing to republish: it will carry this.
  if (published_) PublishLocked();
}

void Poller::PublishLocked() {
  if (published_->self.config_reload != reload_) {
    auto updated = std::make_shared<Snapshot>(*published_);  // published ones are immutable
    updated->self.config_reload = reload_;
    published_ = std::move(updated);
  }
  output_.Publish(published_);
}

void Poller::ApplyPendingConfig() {
  std::optional<Config> next;
  {
    std::lock_guard lock(pending_mutex_);
    next.swap(pending_config_);
  }
  if (!next) return;
  const bool owners_changed = next->processes.enabled != config_.processes.enabled ||
                              next->proc_root != config_.proc_root ||
                              !SameGroups(next->processes.groups, config_.processes.groups);
  const bool mode_changed =
      next->namespaces.mode != config_.namespaces.mode ||
      next->namespaces.pod_names != config_.namespaces.pod_names ||
      next->namespaces.kubelet_pod_logs_dir != config_.namespaces.kubelet_pod_logs_dir ||
      next->proc_root != config_.proc_root;
  config_ = std::move(*next);
  // Not rebuilt: it would forget a refused legacy request and repeat the
  // refusal and its warning after every reload.
  reader_->set_max_retries(config_.poll.netlink_dump_retries);
  for (auto& [key, target] : targets_) {
    target.tracker->set_max_tracked(config_.close_wait.max_tracked);
  }
  if (owners_changed) {
    owners_ = config_.processes.enabled ? MakeOwnerDirectory() : nullptr;
  }
  if (mode_changed) {
    targets_.clear();  // labels change: start afresh
    pods_ = MakePodIdentifier();
  }
  self_.attribution_enabled = config_.processes.enabled;
  interval_seconds_ = std::chrono::duration<double>(config_.poll.interval).count();
  spdlog::info("configuration reloaded");
}

std::vector<Poller::Target*> Poller::SelectTargets() {
  auto make_tracker = [this] {
    return std::make_unique<CloseWaitTracker>(config_.close_wait.max_tracked);
  };
  if (config_.namespaces.mode == Config::Namespaces::Mode::kHost) {
    auto& target = targets_[0];
    if (!target.tracker) target.tracker = make_tracker();
    return {&target};
  }
  SetActivity("discovering network namespaces and pods below " + config_.proc_root);
  DiscoveryStats discovery;
  auto found = DiscoverNetns(config_.proc_root, own_netns_, discovery);
  self_.netns.unreadable = discovery.unreadable;
  if (discovery.unreadable > 0 && !warned_discovery_) {
    spdlog::warn(
        "cannot read the network namespace of {} processes (needs CAP_SYS_PTRACE): "
        "their pods are not read",
        discovery.unreadable);
    warned_discovery_ = true;
  }
  self_.netns.over_cap =
      found.size() > config_.namespaces.max ? found.size() - config_.namespaces.max : 0;
  if (found.size() > config_.namespaces.max) found.resize(config_.namespaces.max);
  std::map<uint64_t, Target> kept;
  std::vector<uint64_t> order;
  std::set<uint64_t> present;
  pods_->BeginPoll();
  SetActivity("identifying pods (" + config_.proc_root + "/<pid>/cgroup)");
  for (auto& info : found) {
    auto it = targets_.find(info.inode);
    Target target;
    if (it != targets_.end()) {
      target = std::move(it->second);
      target.netns.pids = info.pids;  // members change; identity does not
    } else {
      target.netns = std::move(info);
      target.tracker = make_tracker();
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
  self_.netns.pod_identity_failures_total = pods_->stats().failures_total;
  self_.netns.pod_identity_reads_in_flight = pods_->stats().reads_in_flight;
  targets_ = std::move(kept);  // namespaces that are gone leave no series
  std::vector<Target*> selected;
  for (uint64_t inode : order) selected.push_back(&targets_.at(inode));
  return selected;
}

void Poller::ReadKernel(Visit& visit, bool entered) {
  TargetData& data = visit.target->data;
  // /proc/sys/net follows the namespace of the thread that opens it;
  // /proc/net is the main thread's, so an entered thread reads its own.
  auto start = Clock::now();
  const bool pod = visit.target->netns.inode != 0 && !visit.target->netns.host;
  if (pod && data.kernel && start - visit.target->sysctls_read_at < kPodSysctlRefresh) {
    visit.kernel_up = true;  // the values read less than kPodSysctlRefresh ago
  } else {
    SetActivity("reading sysctls below " +
                (std::filesystem::path(config_.proc_root) / "sys" / "net").string());
    auto settings = ReadKernelSettings(config_.proc_root);
    visit.kernel_up = settings.ok();
    visit.kernel_seconds = SecondsSince(start);
    if (settings.ok()) {
      data.kernel = std::make_shared<const KernelSettings>(std::move(settings).value());
      visit.target->sysctls_read_at = start;
    } else {
      spdlog::debug("sysctl read failed: {}", settings.error().message);
    }
  }
  start = Clock::now();
  const std::filesystem::path proc_root(config_.proc_root);
  const auto net_dir = entered ? proc_root / "thread-self" / "net" : proc_root / "net";
  SetActivity("reading " + (net_dir / "netstat").string());
  auto counters = ReadTcpExtCounters(net_dir);
  visit.netstat_up = counters.ok();
  visit.netstat_seconds = SecondsSince(start);
  if (counters.ok()) {
    data.tcpext = std::make_shared<const std::vector<TcpExtCounter>>(std::move(counters).value());
  } else {
    spdlog::debug("netstat read failed: {}", counters.error().message);
  }
}

void Poller::VisitTarget(Visit& visit, bool entered) {
  const auto deadline = Clock::now() + config_.namespaces.read_timeout;
  ReadKernel(visit, entered);
  const auto start = Clock::now();
  const EphemeralRange range =
      visit.target->data.kernel ? EphemeralRangeOf(*visit.target->data.kernel) : EphemeralRange{};
  visit.aggregator =
      std::make_unique<PollAggregator>(config_, PortRange{range.low, range.high}, owners_.get(),
                                       *visit.target->tracker, MonotonicMs());
  SetActivity("reading the socket table (netlink sock_diag)");
  ReadOptions options;
  options.stop = &stopping_;
  options.deadline = deadline;
  options.bound_inactive = visit.target->netns.inode == 0 || visit.target->netns.host ||
                           config_.namespaces.pods_bound_inactive;
  visit.status = reader_->Read(*visit.aggregator, visit.stats, options);
  visit.sock_diag_seconds = SecondsSince(start);
}

bool Poller::ReadSockets(std::vector<Visit>& visits) {
  bool all_ok = true;
  auto& sock_diag = self_.sources["sock_diag"];
  sock_diag.duration_seconds = 0;
  for (auto& visit : visits) {
    const NetnsInfo& netns = visit.target->netns;
    const bool enter = netns.inode != 0 && netns.inode != own_netns_;
    if (!enter) {
      VisitTarget(visit, netns.inode != 0);
    } else {
      SetActivity("opening network namespace " + std::to_string(netns.inode) + " below " +
                  config_.proc_root);
      auto fd = OpenNetns(config_.proc_root, netns);
      if (!fd.ok()) {
        visit.skipped = true;
        if (fd.error().code == ENOENT || fd.error().code == ESRCH) {
          ++self_.netns.vanished_total;  // quietly: pods come and go
        } else {
          ++self_.netns.enter_failures_total;
          if (!warned_enter_) {
            spdlog::warn(
                "cannot open network namespaces ({}): pods are not read; "
                "needs CAP_SYS_PTRACE",
                fd.error().message);
            warned_enter_ = true;
          }
        }
        continue;
      }
      if (!namespace_thread_) namespace_thread_ = std::make_unique<NamespaceThread>();
      const Status entered = namespace_thread_->RunIn(*fd, [&] { VisitTarget(visit, true); });
      if (!entered.ok()) {
        visit.skipped = true;
        ++self_.netns.enter_failures_total;
        if (!warned_enter_) {
          spdlog::warn(
              "cannot enter network namespaces ({}): pods are not read; "
              "needs CAP_SYS_ADMIN",
              entered.error().message);
          warned_enter_ = true;
        }
        continue;
      }
    }
    sock_diag.duration_seconds += visit.sock_diag_seconds;
    self_.netlink_retries += visit.stats.retries;
    self_.netlink_foreign_datagrams += visit.stats.foreign_datagrams;
    visit.target->data.stale = !visit.status.ok();
    if (visit.stats.fell_back) {
      spdlog::warn(
          "kernel refused the legacy TCPDIAG_GETSOCK dump ({}); reading each address family "
          "separately from now on (two walks of the socket hash instead of one)",
          visit.stats.fallback_error);
    }
    if (!visit.status.ok()) {
      all_ok = false;
      const char* reason = visit.stats.failure_reason ? visit.stats.failure_reason : "recv";
      if (std::string(reason) == "deadline") {
        ++self_.netns.deadline_exceeded_total;
      } else if (std::string(reason) != "cancelled") {
        ++self_.netlink_errors[reason];
      }
      if (visit.status.error().message != last_error_) {
        spdlog::error(
            "socket table read failed ({}) in network namespace {}: {}; serving "
            "the last good data",
            reason, netns.inode == 0 ? std::string("of the exporter") : std::to_string(netns.inode),
            visit.status.error().message);
        last_error_ = visit.status.error().message;
      }
      visit.target->tracker->Begin();  // drop what the failed read observed
    }
  }
  if (namespace_thread_) namespace_thread_->ReturnHome();
  sock_diag.up = all_ok;
  if (all_ok && !last_error_.empty()) {
    spdlog::info("socket table read recovered");
    last_error_.clear();
  }
  return all_ok;
}

bool Poller::PollOnce() {
  ApplyPendingConfig();
  const auto start = Clock::now();
  auto selected = SelectTargets();
  std::vector<Visit> visits(selected.size());
  for (size_t i = 0; i < selected.size(); ++i) visits[i].target = selected[i];

  if (owners_) {
    SetActivity("re-checking socket owners (" + config_.proc_root + "/<pid>/stat)");
    owners_->BeginPoll();
  }
  const bool ok = ReadSockets(visits);

  // One /proc look-up for the sockets of every namespace whose owner is new.
  const auto attribution_start = Clock::now();
  if (owners_) {
    std::vector<uint32_t> pending;
    std::vector<uint64_t> namespaces;
    for (const auto& visit : visits) {
      if (visit.skipped || !visit.status.ok()) continue;
      const size_t before = pending.size();
      visit.aggregator->AppendPendingInodes(pending);
      if (pending.size() > before) {
        const uint64_t inode = visit.target->netns.inode;
        namespaces.push_back(inode != 0 ? inode : own_netns_);
      }
    }
    owners_->SetScanNamespaces(std::move(namespaces));
    if (!pending.empty()) {
      SetActivity("looking up socket owners (" + config_.proc_root + "/<pid>/fd)");
      owners_->Resolve(pending);
    }
  }
  uint64_t sockets = 0;
  uint64_t read = 0;
  bool kernel_up = true;
  bool netstat_up = true;
  double kernel_seconds = 0;
  double netstat_seconds = 0;
  for (auto& visit : visits) {
    if (visit.skipped) continue;
    ++read;
    kernel_up &= visit.kernel_up;
    netstat_up &= visit.netstat_up;
    kernel_seconds += visit.kernel_seconds;
    netstat_seconds += visit.netstat_seconds;
    if (!visit.status.ok()) continue;
    sockets += visit.stats.records;
    visit.target->data.sockets = std::make_shared<const SocketTable>(visit.aggregator->Finish());
  }
  if (owners_) {
    owners_->EndPoll();
    auto& process = self_.sources["process"];
    self_.attribution = owners_->stats();
    self_.owner_cache_sockets = owners_->cached_sockets();
    process.up = self_.attribution.available;
    process.duration_seconds = SecondsSince(attribution_start);
    if (!self_.attribution.available && !warned_attribution_) {
      spdlog::warn(
          "cannot read other processes' fds (need CAP_SYS_PTRACE and "
          "CAP_DAC_READ_SEARCH): their sockets are labelled process=\"(unknown)\"");
      warned_attribution_ = true;
    }
  } else {
    self_.sources.erase("process");
  }
  self_.close_wait_tracked = 0;
  for (const auto& [key, target] : targets_) {
    if (target.tracker) self_.close_wait_tracked += target.tracker->tracked();
  }
  self_.sources["sysctl"] = {kernel_up, kernel_seconds};
  self_.sources["netstat"] = {netstat_up, netstat_seconds};
  self_.netns.all_mode = config_.namespaces.mode == Config::Namespaces::Mode::kAll;
  self_.netns.read = read;

  self_.poll_duration_seconds = SecondsSince(start);
  self_.last_poll_success = ok;
  if (ok) {
    ++self_.polls_success;
    self_.poll_sockets = sockets;
    self_.last_success_timestamp_seconds = UnixSeconds();
    last_success_unix_ = self_.last_success_timestamp_seconds;
  } else {
    ++self_.polls_failure;
  }
  Snapshot snapshot;
  snapshot.self = self_;
  // A namespace not read this poll (vanished, or not enterable) publishes
  // nothing rather than stale series.
  for (const auto& visit : visits) {
    if (!visit.skipped) snapshot.targets.push_back(visit.target->data);
  }
  SetActivity("publishing the snapshot");
  {
    std::lock_guard lock(publish_mutex_);
    snapshot.self.config_reload = reload_;
    published_ = std::make_shared<const Snapshot>(std::move(snapshot));
    PublishLocked();
  }
  SetActivity("waiting for the next poll");
  spdlog::debug("poll {} in {:.3f}s: {} sockets in {} namespaces", ok ? "ok" : "failed",
                self_.poll_duration_seconds, sockets, read);
  return ok;
}

void Poller::Run(std::stop_token stop) {
  std::stop_callback on_stop(stop, [this] { stopping_ = true; });
  std::mutex mutex;
  std::condition_variable_any wake;
  auto next = Clock::now();
  while (!stop.stop_requested()) {
    PollOnce();
    next += config_.poll.interval;
    // A poll slower than the interval starts the next one right away rather
    // than queueing a burst of catch-up polls.
    if (next < Clock::now()) next = Clock::now();
    std::unique_lock lock(mutex);
    wake.wait_until(lock, stop, next, [] { return false; });
  }
}

}  // namespace tcpstate
