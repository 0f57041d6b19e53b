// The exporter's own resource use, for the process_* metrics
// (metrics/process_collector.h): CPU time, memory and start time from
// /proc/self/stat, boot time from /proc/stat, open descriptors from
// /proc/self/fd, the descriptor limit from getrlimit. Always the exporter's
// own /proc, never --path.procfs (that may be a host's or a fixture).
//
// Thread-safe: free functions; the cached boot time is read once.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/result.h"

namespace tcpstate {

// Fields of /proc/<pid>/stat (proc(5)), in the kernel's units.
struct SelfStatFields {
  uint64_t utime_ticks = 0;       // field 14
  uint64_t stime_ticks = 0;       // field 15
  uint64_t start_time_ticks = 0;  // field 22: clock ticks after boot
  uint64_t vsize_bytes = 0;       // field 23
  int64_t rss_pages = 0;          // field 24
};

// Parses a stat file. comm (field 2) may hold spaces and ')', so the fields
// after it start after the *last* ')'.
Result<SelfStatFields> ParseSelfStat(std::string_view content);

// The btime line of /proc/stat: boot time, seconds since the epoch.
Result<uint64_t> ParseBootTime(std::string_view proc_stat);

struct ProcessStats {
  double cpu_seconds = 0;  // user + system
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;   // since the epoch
  std::optional<double> open_fds;  // absent when /proc/self/fd is unreadable
  std::optional<double> max_fds;   // soft RLIMIT_NOFILE; absent when unlimited or unknown
};

// Converts parsed fields with the clock tick rate and page size.
ProcessStats ComputeProcessStats(const SelfStatFields& stat, uint64_t boot_time, long clock_ticks,
                                 long page_size);

// Reads everything for the calling process. Fails only when /proc/self/stat
// or the boot time cannot be read; open_fds and max_fds are optional.
Result<ProcessStats> ReadSelfProcessStats();

}  // namespace tcpstate
