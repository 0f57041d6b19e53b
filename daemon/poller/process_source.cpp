#include "poller/process_source.h"

#include <spdlog/spdlog.h>

namespace tcpstate {

ProcessSource::ProcessSource(const Config& config, const std::atomic<bool>* stop)
    : owners_(std::make_unique<ProcOwnerDirectory>(config.proc_root, config.processes.groups)) {
  owners_->SetStopFlag(stop);  // a scan in progress at shutdown stops within one read
}

void ProcessSource::Resolve(std::span<const uint32_t> pending, std::vector<uint64_t> namespaces) {
  owners_->SetScanNamespaces(std::move(namespaces));
  if (!pending.empty()) owners_->Resolve(pending);
  owners_->MeasureOwners();
}

bool ProcessSource::EndPoll() {
  owners_->EndPoll();
  const bool available = owners_->stats().available;
  if (!available && !warned_) {
    spdlog::warn(
        "cannot read other processes' fds (need CAP_SYS_PTRACE and "
        "CAP_DAC_READ_SEARCH): their sockets are labelled process=\"(unknown)\"");
    warned_ = true;
  }
  return available;
}

}  // namespace tcpstate
