#include "procfs/kernel_settings.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "common/small_file.h"

namespace tcpstate {
namespace {

struct SysctlSpec {
  const char* path;  // below <proc>/sys
  int field;         // which whitespace-separated field
  const char* metric;
  const char* help;
};

constexpr SysctlSpec kSysctls[] = {
    {"net/ipv4/tcp_max_tw_buckets", 0, "tcp_max_tw_buckets",
     "net.ipv4.tcp_max_tw_buckets: TIME_WAIT sockets the kernel keeps before destroying new ones."},
    {"net/ipv4/ip_local_port_range", 0, "ip_local_port_range_low",
     "net.ipv4.ip_local_port_range: first ephemeral port."},
    {"net/ipv4/ip_local_port_range", 1, "ip_local_port_range_high",
     "net.ipv4.ip_local_port_range: last ephemeral port."},
    {"net/ipv4/tcp_fin_timeout", 0, "tcp_fin_timeout_seconds",
     "net.ipv4.tcp_fin_timeout: lifetime of orphaned FIN_WAIT2 sockets."},
    {"net/ipv4/tcp_tw_reuse", 0, "tcp_tw_reuse",
     "net.ipv4.tcp_tw_reuse: 0 off, 1 on, 2 loopback only (outbound connections only)."},
    {"net/ipv4/tcp_keepalive_time", 0, "tcp_keepalive_time_seconds",
     "net.ipv4.tcp_keepalive_time: idle time before the first keepalive probe."},
    {"net/ipv4/tcp_keepalive_intvl", 0, "tcp_keepalive_interval_seconds",
     "net.ipv4.tcp_keepalive_intvl: time between keepalive probes."},
    {"net/ipv4/tcp_keepalive_probes", 0, "tcp_keepalive_probes",
     "net.ipv4.tcp_keepalive_probes: unanswered probes before the connection is dropped."},
    {"net/core/somaxconn", 0, "somaxconn",
     "net.core.somaxconn: upper limit of a listen() backlog."},
    {"net/ipv4/tcp_max_syn_backlog", 0, "tcp_max_syn_backlog",
     "net.ipv4.tcp_max_syn_backlog: half-open connections remembered per listener."},
    {"net/ipv4/tcp_max_orphans", 0, "tcp_max_orphans",
     "net.ipv4.tcp_max_orphans: sockets not attached to any file the kernel keeps."},
    {"net/ipv4/tcp_ehash_entries", 0, "tcp_ehash_entries",
     "net.ipv4.tcp_ehash_entries: buckets of the established hash this network namespace "
     "uses; negative when it shares the node's, so every dump of it walks the sockets of "
     "all namespaces sharing it."},
    {"net/ipv4/tcp_child_ehash_entries", 0, "tcp_child_ehash_entries",
     "net.ipv4.tcp_child_ehash_entries (node's namespace only): established hash size given "
     "to network namespaces created from now on; 0 makes them share the node's."},
};

std::optional<int64_t> ReadField(const std::filesystem::path& path, int field) {
  auto content = ReadSmallFile(path.string(), 256);
  if (!content.ok()) return std::nullopt;
  std::string_view text = *content;
  std::string_view token;
  for (int i = 0; i <= field; ++i) {
    const size_t start = text.find_first_not_of(" \t\n");
    if (start == std::string_view::npos) return std::nullopt;
    text.remove_prefix(start);
    const size_t end = std::min(text.find_first_of(" \t\n"), text.size());
    token = text.substr(0, end);
    text.remove_prefix(end);
  }
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), value);
  if (ec != std::errc() || ptr != token.data() + token.size()) return std::nullopt;
  return value;
}

}  // namespace

Result<KernelSettings> ReadKernelSettings(const std::filesystem::path& proc_root) {
  KernelSettings settings;
  for (const auto& spec : kSysctls) {
    if (auto value = ReadField(proc_root / "sys" / spec.path, spec.field)) {
      settings.values.push_back({spec.metric, spec.help, *value});
    } else {
      settings.missing.push_back(spec.path);
    }
  }
  if (settings.values.empty()) {
    return Error{ENOENT, "no sysctl readable below " + (proc_root / "sys").string()};
  }
  return settings;
}

EphemeralRange EphemeralRangeOf(const KernelSettings& settings) {
  EphemeralRange range;
  for (const auto& setting : settings.values) {
    if (setting.metric == "ip_local_port_range_low") {
      range.low = static_cast<uint16_t>(setting.value);
    } else if (setting.metric == "ip_local_port_range_high") {
      range.high = static_cast<uint16_t>(setting.value);
    }
  }
  return range;
}

}  // namespace tcpstate
