// Reads the identity of a process from /proc/<pid>/stat (proc(5)).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tcpstate {

struct ProcessIdentity {
  std::string comm;         // raw bytes, at most 15 (TASK_COMM_LEN - 1)
  uint64_t start_time = 0;  // clock ticks after boot: tells reused pids apart
};

// Parses the content of a stat file. comm may hold spaces and parentheses,
// so it runs to the *last* ')'.
Result<ProcessIdentity> ParseProcStat(std::string_view content);

Result<ProcessIdentity> ReadProcessIdentity(const std::filesystem::path& proc_root, int32_t pid);

}  // namespace tcpstate
