#include "poller/kernel_sources.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "procfs/kernel_settings.h"
#include "procfs/snmp_counters.h"
#include "procfs/tcpext_counters.h"

namespace tcpstate {

Status SysctlSource::Read(Target& target) const {
  const auto now = std::chrono::steady_clock::now();
  if (target.pod() && target.data.kernel && now - target.sysctls_read_at < kPodRefresh) {
    return OkStatus();
  }
  auto settings = ReadKernelSettings(config_.proc_root);
  if (!settings.ok()) {
    spdlog::debug("sysctl read failed: {}", settings.error().message);
    return settings.error();
  }
  target.data.kernel = std::make_shared<const KernelSettings>(std::move(settings).value());
  target.sysctls_read_at = now;
  return OkStatus();
}

Status NetstatSource::Read(Target& target, bool entered) const {
  const std::filesystem::path proc_root(config_.proc_root);
  const auto net_dir = entered ? proc_root / "thread-self" / "net" : proc_root / "net";
  auto counters = ReadTcpExtCounters(net_dir);
  if (!counters.ok()) {
    spdlog::debug("netstat read failed: {}", counters.error().message);
    return counters.error();
  }
  target.data.tcpext =
      std::make_shared<const std::vector<TcpExtCounter>>(std::move(counters).value());
  return OkStatus();
}

Status SnmpSource::Read(Target& target, bool entered) const {
  const std::filesystem::path proc_root(config_.proc_root);
  const auto net_dir = entered ? proc_root / "thread-self" / "net" : proc_root / "net";
  auto counters = ReadSnmpTcpCounters(net_dir);
  if (!counters.ok()) {
    spdlog::debug("snmp read failed: {}", counters.error().message);
    return counters.error();
  }
  target.data.snmp_tcp =
      std::make_shared<const std::vector<SnmpTcpCounter>>(std::move(counters).value());
  return OkStatus();
}

}  // namespace tcpstate
