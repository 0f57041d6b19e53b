#include "poller/poller.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <thread>

#include "aggregate/poll_aggregator.h"
#include "metrics/render_snapshot.h"

namespace tcpstate {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t MonotonicMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             Clock::now().time_since_epoch())
      .count();
}

double UnixSeconds() {
  return std::chrono::duration<double>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

constexpr const char* kNetlinkReasons[] = {
    "socket", "send", "recv", "truncated", "malformed", "sequence",
    "nlmsg_error", "done_error", "interrupted"};

}  // namespace

Poller::Poller(Config config, std::unique_ptr<TransportFactory> transports,
               SnapshotCollectable& output)
    : config_(std::move(config)),
      transports_(std::move(transports)),
      output_(output),
      tracker_(config_.close_wait.max_tracked) {
  reader_ = std::make_unique<TcpTableReader>(*transports_,
                                             config_.poll.netlink_dump_retries);
  if (config_.processes.enabled) {
    owners_ = std::make_unique<ProcOwnerDirectory>(config_.proc_root,
                                                   config_.processes.groups);
  }
  for (const char* reason : kNetlinkReasons) snapshot_.self.netlink_errors[reason] = 0;
  snapshot_.self.attribution_enabled = config_.processes.enabled;
}

void Poller::UpdateConfig(Config config) {
  std::lock_guard lock(pending_mutex_);
  pending_config_ = std::move(config);
}

void Poller::SetReloadStatus(bool ok) { reload_ok_ = ok; }

void Poller::ApplyPendingConfig() {
  std::optional<Config> next;
  {
    std::lock_guard lock(pending_mutex_);
    next.swap(pending_config_);
  }
  if (!next) return;
  const bool owners_changed = next->processes.enabled != config_.processes.enabled ||
                              next->proc_root != config_.proc_root ||
                              next->processes.groups.size() != config_.processes.groups.size() ||
                              !std::equal(next->processes.groups.begin(),
                                          next->processes.groups.end(),
                                          config_.processes.groups.begin(),
                                          [](const auto& a, const auto& b) {
                                            return a.name == b.name && a.pattern == b.pattern;
                                          });
  config_ = std::move(*next);
  reader_ = std::make_unique<TcpTableReader>(*transports_,
                                             config_.poll.netlink_dump_retries);
  tracker_.set_max_tracked(config_.close_wait.max_tracked);
  if (owners_changed) {
    owners_ = config_.processes.enabled
                  ? std::make_unique<ProcOwnerDirectory>(config_.proc_root,
                                                         config_.processes.groups)
                  : nullptr;
  }
  snapshot_.self.attribution_enabled = config_.processes.enabled;
  spdlog::info("configuration reloaded");
}

void Poller::ReadKernel() {
  auto start = Clock::now();
  auto settings = ReadKernelSettings(config_.proc_root);
  auto& sysctl = snapshot_.self.sources["sysctl"];
  sysctl.up = settings.ok();
  sysctl.duration_seconds = SecondsSince(start);
  if (settings.ok()) {
    snapshot_.kernel = std::make_shared<const KernelSettings>(std::move(settings).value());
  } else {
    spdlog::debug("sysctl read failed: {}", settings.error().message);
  }

  start = Clock::now();
  auto counters = ReadTcpExtCounters(config_.proc_root);
  auto& netstat = snapshot_.self.sources["netstat"];
  netstat.up = counters.ok();
  netstat.duration_seconds = SecondsSince(start);
  if (counters.ok()) {
    snapshot_.tcpext = std::make_shared<const std::vector<TcpExtCounter>>(
        std::move(counters).value());
  } else {
    spdlog::debug("netstat read failed: {}", counters.error().message);
  }
}

bool Poller::ReadSockets() {
  SelfStats& self = snapshot_.self;
  const auto start = Clock::now();
  const EphemeralRange range =
      snapshot_.kernel ? EphemeralRangeOf(*snapshot_.kernel) : EphemeralRange{};
  PollAggregator aggregator(config_, PortRange{range.low, range.high}, owners_.get(),
                            tracker_, MonotonicMs());
  TableReadStats stats;
  const Status status = reader_->Read(aggregator, stats, &stopping_);
  self.netlink_retries += stats.retries;
  auto& sock_diag = self.sources["sock_diag"];
  sock_diag.up = status.ok();
  sock_diag.duration_seconds = SecondsSince(start);
  if (!status.ok()) {
    const char* reason = stats.failure_reason ? stats.failure_reason : "recv";
    if (std::string(reason) != "cancelled") ++self.netlink_errors[reason];
    if (status.error().message != last_error_) {
      spdlog::error("socket table read failed ({}): {}; serving the last good data",
                    reason, status.error().message);
      last_error_ = status.error().message;
    }
    tracker_.Begin();  // drop what the failed attempt observed
    return false;
  }
  if (!last_error_.empty()) {
    spdlog::info("socket table read recovered");
    last_error_.clear();
  }

  const auto attribution_start = Clock::now();
  SocketTable table = aggregator.Finish();
  if (owners_) {
    auto& process = self.sources["process"];
    self.attribution = owners_->stats();
    process.up = self.attribution.available;
    process.duration_seconds = SecondsSince(attribution_start);
    if (!self.attribution.available && !warned_attribution_) {
      spdlog::warn(
          "cannot read other processes' fds (need CAP_SYS_PTRACE and "
          "CAP_DAC_READ_SEARCH): their sockets are labelled process=\"(unknown)\"");
      warned_attribution_ = true;
    }
  }
  self.poll_sockets = stats.records;
  snapshot_.sockets = std::make_shared<const SocketTable>(std::move(table));
  return true;
}

bool Poller::PollOnce() {
  ApplyPendingConfig();
  const auto start = Clock::now();
  ReadKernel();
  const bool ok = ReadSockets();
  SelfStats& self = snapshot_.self;
  self.poll_duration_seconds = SecondsSince(start);
  self.last_poll_success = ok;
  self.config_reload_ok = reload_ok_;
  if (ok) {
    ++self.polls_success;
    self.last_success_timestamp_seconds = UnixSeconds();
    last_success_unix_ = self.last_success_timestamp_seconds;
  } else {
    ++self.polls_failure;
  }
  output_.Publish(std::make_shared<const SnapshotCollectable::Families>(
      RenderSnapshot(snapshot_)));
  spdlog::debug("poll {} in {:.3f}s: {} sockets", ok ? "ok" : "failed",
                self.poll_duration_seconds, self.poll_sockets);
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
