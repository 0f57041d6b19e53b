#include "poller/sock_diag_source.h"

#include <spdlog/spdlog.h>

namespace tcpstate {

void SockDiagSource::Account(const NetnsInfo& netns, const Status& status,
                             const TableReadStats& stats, SelfStats& self) {
  self.netlink_retries += stats.retries;
  self.netlink_foreign_datagrams += stats.foreign_datagrams;
  if (stats.fell_back) {
    spdlog::warn(
        "kernel refused the legacy TCPDIAG_GETSOCK dump ({}); reading each address family "
        "separately from now on (two walks of the socket hash instead of one)",
        stats.fallback_error);
  }
  if (status.ok()) return;
  const ReadFailure failure = stats.failure.value_or(ReadFailure::kRecv);
  if (failure == ReadFailure::kDeadline) {
    ++self.netns.deadline_exceeded_total;
  } else if (failure != ReadFailure::kCancelled) {
    ++self.netlink_errors[static_cast<size_t>(failure)];
  }
  if (status.error().message != last_error_) {
    spdlog::error(
        "socket table read failed ({}) in network namespace {}: {}; serving the last good data",
        ReadFailureName(failure),
        netns.inode == 0 ? std::string("of the exporter") : std::to_string(netns.inode),
        status.error().message);
    last_error_ = status.error().message;
  }
}

void SockDiagSource::EndPoll(bool all_ok) {
  if (all_ok && !last_error_.empty()) {
    spdlog::info("socket table read recovered");
    last_error_.clear();
  }
}

}  // namespace tcpstate
