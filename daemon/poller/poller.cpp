#include "poller/poller.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>

#include "aggregate/poll_aggregator.h"
#include "procfs/kernel_settings.h"

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

double Seconds(std::chrono::milliseconds interval) {
  return std::chrono::duration<double>(interval).count();
}

bool SameGroups(const std::vector<ProcessGroup>& a, const std::vector<ProcessGroup>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.name == y.name && x.pattern == y.pattern;
  });
}

}  // namespace

struct Poller::Visit {
  Target* target = nullptr;
  std::unique_ptr<PollAggregator> aggregator;
  Status status = OkStatus();
  TableReadStats stats;
  bool skipped = false;  // vanished or not enterable: no data this poll
};

Poller::Poller(Config config, std::unique_ptr<TransportFactory> transports, SnapshotSink& output)
    : config_(std::move(config)),
      transports_(std::move(transports)),
      output_(output),
      targets_(config_, [this](std::string what) { SetActivity(std::move(what)); }),
      sock_diag_(*transports_, config_.poll.netlink_dump_retries),
      sysctls_(config_),
      netstat_(config_),
      snmp_(config_) {
  if (config_.processes.enabled) processes_ = std::make_unique<ProcessSource>(config_, &stopping_);
  self_.attribution_enabled = config_.processes.enabled;
  reload_.last_success_timestamp_seconds = UnixSeconds();  // the start-up load
  interval_seconds_ = Seconds(config_.poll.interval);
}

Poller::~Poller() = default;

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
  sock_diag_.set_max_retries(config_.poll.netlink_dump_retries);
  targets_.Reconfigure(mode_changed);
  if (owners_changed) {
    processes_ =
        config_.processes.enabled ? std::make_unique<ProcessSource>(config_, &stopping_) : nullptr;
  }
  self_.attribution_enabled = config_.processes.enabled;
  interval_seconds_ = Seconds(config_.poll.interval);
  spdlog::info("configuration reloaded");
}

// Runs on the thread that is in the visit's namespace.
void Poller::VisitTarget(Visit& visit, bool entered) {
  const auto deadline = Clock::now() + config_.namespaces.read_timeout;
  Target& target = *visit.target;
  SetActivity("reading sysctls below " +
              (std::filesystem::path(config_.proc_root) / "sys" / "net").string());
  (void)recorder_.Run(Source::kSysctl, [&] { return sysctls_.Read(target); });
  const std::filesystem::path proc_root(config_.proc_root);
  SetActivity(
      "reading " +
      ((entered ? proc_root / "thread-self" / "net" : proc_root / "net") / "netstat").string());
  (void)recorder_.Run(Source::kNetstat, [&] { return netstat_.Read(target, entered); });
  (void)recorder_.Run(Source::kSnmp, [&] { return snmp_.Read(target, entered); });

  const EphemeralRange range =
      target.data.kernel ? EphemeralRangeOf(*target.data.kernel) : EphemeralRange{};
  visit.aggregator = std::make_unique<PollAggregator>(config_, PortRange{range.low, range.high},
                                                      processes_ ? &processes_->owners() : nullptr,
                                                      *target.tracker, MonotonicMs());
  SetActivity("reading the socket table (netlink sock_diag)");
  ReadOptions options;
  options.stop = &stopping_;
  options.deadline = deadline;
  options.bound_inactive = !target.pod() || config_.namespaces.pods_bound_inactive;
  visit.status = recorder_.Run(
      Source::kSockDiag, [&] { return sock_diag_.Read(*visit.aggregator, visit.stats, options); });
}

bool Poller::ReadSockets(std::vector<Visit>& visits) {
  bool all_ok = true;
  for (auto& visit : visits) {
    visit.skipped = !targets_.RunIn(*visit.target, self_.netns,
                                    [&](bool entered) { VisitTarget(visit, entered); });
    if (visit.skipped) continue;
    sock_diag_.Account(visit.target->netns, visit.status, visit.stats, self_);
    visit.target->data.stale = !visit.status.ok();
    if (!visit.status.ok()) {
      all_ok = false;
      visit.target->tracker->Begin();  // drop what the failed read observed
    }
  }
  targets_.ReturnHome();
  sock_diag_.EndPoll(all_ok);
  return all_ok;
}

// One /proc look-up for the sockets of every namespace whose owner is new.
void Poller::Attribute(std::vector<Visit>& visits) {
  const auto start = Clock::now();
  std::vector<uint32_t> pending;
  std::vector<uint64_t> namespaces;
  for (const auto& visit : visits) {
    if (visit.skipped || !visit.status.ok()) continue;
    const size_t before = pending.size();
    visit.aggregator->AppendPendingInodes(pending);
    if (pending.size() > before) {
      const uint64_t inode = visit.target->netns.inode;
      namespaces.push_back(inode != 0 ? inode : targets_.own_netns());
    }
  }
  if (!pending.empty()) {
    SetActivity("looking up socket owners (" + config_.proc_root + "/<pid>/fd)");
  }
  processes_->Resolve(pending, std::move(namespaces));
  // Finish before EndPoll: the tables ask the owners' names.
  for (auto& visit : visits) {
    if (visit.skipped || !visit.status.ok()) continue;
    visit.target->data.sockets = std::make_shared<const SocketTable>(visit.aggregator->Finish());
  }
  const bool available = processes_->EndPoll();
  recorder_.Record(Source::kProcess, available, SecondsSince(start));
  self_.attribution = processes_->stats();
  self_.owner_cache_sockets = processes_->cached_sockets();
}

bool Poller::PollOnce() {
  ApplyPendingConfig();
  const auto start = Clock::now();
  recorder_.BeginPoll({Source::kNetstat, Source::kSnmp, Source::kSockDiag, Source::kSysctl});
  auto selected = targets_.Select(self_.netns);
  std::vector<Visit> visits(selected.size());
  for (size_t i = 0; i < selected.size(); ++i) visits[i].target = selected[i];

  if (processes_) {
    SetActivity("re-checking socket owners (" + config_.proc_root + "/<pid>/stat)");
    processes_->BeginPoll();
  }
  const bool ok = ReadSockets(visits);
  if (processes_) {
    Attribute(visits);
  } else {
    for (auto& visit : visits) {
      if (visit.skipped || !visit.status.ok()) continue;
      visit.target->data.sockets = std::make_shared<const SocketTable>(visit.aggregator->Finish());
    }
  }

  uint64_t sockets = 0;
  uint64_t read = 0;
  for (const auto& visit : visits) {
    if (visit.skipped) continue;
    ++read;
    if (visit.status.ok()) sockets += visit.stats.records;
  }
  self_.sources = recorder_.sources();
  self_.close_wait_tracked = targets_.close_wait_tracked();
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
