#include "procfs/kernel_settings.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <iterator>
#include <string_view>

#include "common/small_file.h"

namespace tcpstate {
namespace {

struct SysctlSpec {
  Sysctl sysctl;
  const char* path;    // below <proc>/sys
  int field;           // which whitespace-separated field
  bool pages = false;  // a count of pages, published in bytes
};

constexpr SysctlSpec kSysctls[] = {
    {Sysctl::kTcpMaxTwBuckets, "net/ipv4/tcp_max_tw_buckets", 0},
    {Sysctl::kIpLocalPortRangeLow, "net/ipv4/ip_local_port_range", 0},
    {Sysctl::kIpLocalPortRangeHigh, "net/ipv4/ip_local_port_range", 1},
    {Sysctl::kTcpFinTimeout, "net/ipv4/tcp_fin_timeout", 0},
    {Sysctl::kTcpTwReuse, "net/ipv4/tcp_tw_reuse", 0},
    {Sysctl::kTcpKeepaliveTime, "net/ipv4/tcp_keepalive_time", 0},
    {Sysctl::kTcpKeepaliveIntvl, "net/ipv4/tcp_keepalive_intvl", 0},
    {Sysctl::kTcpKeepaliveProbes, "net/ipv4/tcp_keepalive_probes", 0},
    {Sysctl::kSomaxconn, "net/core/somaxconn", 0},
    {Sysctl::kTcpMaxSynBacklog, "net/ipv4/tcp_max_syn_backlog", 0},
    {Sysctl::kTcpMaxOrphans, "net/ipv4/tcp_max_orphans", 0},
    {Sysctl::kTcpEhashEntries, "net/ipv4/tcp_ehash_entries", 0},
    {Sysctl::kTcpChildEhashEntries, "net/ipv4/tcp_child_ehash_entries", 0},
    {Sysctl::kTcpMemLow, "net/ipv4/tcp_mem", 0, true},
    {Sysctl::kTcpMemPressure, "net/ipv4/tcp_mem", 1, true},
    {Sysctl::kTcpMemHigh, "net/ipv4/tcp_mem", 2, true},
};
static_assert(std::size(kSysctls) + 1 == kSysctlCount);  // + sockstat's TCP mem

int64_t PageSize() {
  static const int64_t size = sysconf(_SC_PAGESIZE);
  return size;
}

// "TCP: inuse 1 orphan 0 tw 37 alloc 60 mem 315" of <proc>/net/sockstat.
std::optional<int64_t> ReadSockstatTcpMemPages(const std::filesystem::path& path) {
  auto content = ReadSmallFile(path.string(), 4096);
  if (!content.ok()) return std::nullopt;
  std::string_view text = *content;
  const size_t line = text.find("TCP: ");
  if (line == std::string_view::npos) return std::nullopt;
  text = text.substr(line, text.find('\n', line) - line);
  const size_t key = text.find(" mem ");
  if (key == std::string_view::npos) return std::nullopt;
  text.remove_prefix(key + 5);
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return std::nullopt;
  return value;
}

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
      settings.values.push_back({spec.sysctl, spec.pages ? *value * PageSize() : *value});
    } else {
      settings.missing.push_back(spec.path);
    }
  }
  if (auto pages = ReadSockstatTcpMemPages(proc_root / "net" / "sockstat")) {
    settings.values.push_back({Sysctl::kTcpMemoryInUse, *pages * PageSize()});
  } else {
    settings.missing.push_back("net/sockstat");
  }
  if (settings.values.empty()) {
    return MakeError(ErrorKind::kSystem, "no sysctl readable below " + (proc_root / "sys").string(),
                     ENOENT);
  }
  return settings;
}

EphemeralRange EphemeralRangeOf(const KernelSettings& settings) {
  EphemeralRange range;
  for (const auto& setting : settings.values) {
    if (setting.sysctl == Sysctl::kIpLocalPortRangeLow) {
      range.low = static_cast<uint16_t>(setting.value);
    } else if (setting.sysctl == Sysctl::kIpLocalPortRangeHigh) {
      range.high = static_cast<uint16_t>(setting.value);
    }
  }
  return range;
}

}  // namespace tcpstate
