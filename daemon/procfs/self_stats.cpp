#include "procfs/self_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstring>
#include <mutex>
#include <string>

#include "common/small_file.h"
#include "common/unique_dir.h"

namespace tcpstate {
namespace {

template <class T>
bool ParseNumber(std::string_view text, T& out) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

// /proc/stat lists every CPU and interrupt before btime: on a large machine
// it runs to hundreds of KiB.
constexpr size_t kProcStatLimit = 4 * 1024 * 1024;

}  // namespace

Result<SelfStatFields> ParseSelfStat(std::string_view content) {
  const size_t open = content.find('(');
  const size_t close = content.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return MakeError(ErrorKind::kInvalid, "stat: no (comm)");
  }
  SelfStatFields fields;
  std::string_view rest = content.substr(close + 1);
  int field = 2;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && (rest[pos] == ' ' || rest[pos] == '\n')) ++pos;
    if (pos >= rest.size()) break;
    size_t end = rest.find_first_of(" \n", pos);
    if (end == std::string_view::npos) end = rest.size();
    const std::string_view token = rest.substr(pos, end - pos);
    ++field;
    bool ok = true;
    switch (field) {
      case 14:
        ok = ParseNumber(token, fields.utime_ticks);
        break;
      case 15:
        ok = ParseNumber(token, fields.stime_ticks);
        break;
      case 22:
        ok = ParseNumber(token, fields.start_time_ticks);
        break;
      case 23:
        ok = ParseNumber(token, fields.vsize_bytes);
        break;
      case 24:
        if (!ParseNumber(token, fields.rss_pages)) {
          return MakeError(ErrorKind::kInvalid, "stat: bad field 24");
        }
        return fields;
      default:
        break;
    }
    if (!ok) return MakeError(ErrorKind::kInvalid, "stat: bad field " + std::to_string(field));
    pos = end;
  }
  return MakeError(ErrorKind::kInvalid, "stat: too few fields");
}

Result<uint64_t> ParseBootTime(std::string_view proc_stat) {
  size_t pos = 0;
  while (pos < proc_stat.size()) {
    size_t end = proc_stat.find('\n', pos);
    if (end == std::string_view::npos) end = proc_stat.size();
    const std::string_view line = proc_stat.substr(pos, end - pos);
    if (line.rfind("btime ", 0) == 0) {
      std::string_view value = line.substr(6);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\r'))
        value.remove_suffix(1);
      uint64_t btime = 0;
      if (!ParseNumber(value, btime))
        return MakeError(ErrorKind::kInvalid, "/proc/stat: bad btime");
      return btime;
    }
    pos = end + 1;
  }
  return MakeError(ErrorKind::kInvalid, "/proc/stat: no btime line");
}

ProcessStats ComputeProcessStats(const SelfStatFields& stat, uint64_t boot_time, long clock_ticks,
                                 long page_size) {
  ProcessStats stats;
  const double ticks = clock_ticks > 0 ? static_cast<double>(clock_ticks) : 100.0;
  stats.cpu_seconds = static_cast<double>(stat.utime_ticks + stat.stime_ticks) / ticks;
  stats.resident_bytes =
      static_cast<double>(stat.rss_pages > 0 ? stat.rss_pages : 0) * static_cast<double>(page_size);
  stats.virtual_bytes = static_cast<double>(stat.vsize_bytes);
  stats.start_time_seconds =
      static_cast<double>(boot_time) + static_cast<double>(stat.start_time_ticks) / ticks;
  return stats;
}

Result<ProcessStats> ReadSelfProcessStats() {
  // btime does not change while the system runs: read it once.
  static std::once_flag once;
  static Result<uint64_t> boot_time = MakeError(ErrorKind::kInvalid, "not read");
  std::call_once(once, [] {
    auto content = ReadSmallFile("/proc/stat", kProcStatLimit);
    boot_time = content.ok() ? ParseBootTime(*content) : Result<uint64_t>(content.error());
  });
  if (!boot_time.ok()) return boot_time.error();

  auto content = ReadSmallFile("/proc/self/stat", 4096);
  if (!content.ok()) return content.error();
  auto fields = ParseSelfStat(*content);
  if (!fields.ok()) return fields.error();
  ProcessStats stats =
      ComputeProcessStats(*fields, *boot_time, ::sysconf(_SC_CLK_TCK), ::sysconf(_SC_PAGESIZE));

  if (UniqueDir dir = OpenDir("/proc/self/fd")) {
    double count = 0;
    while (const dirent* entry = ::readdir(dir.get())) {
      if (entry->d_name[0] != '.') ++count;
    }
    stats.open_fds = count;
  }
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    stats.max_fds = static_cast<double>(limit.rlim_cur);
  }
  return stats;
}

}  // namespace tcpstate
