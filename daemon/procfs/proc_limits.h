// The RLIMIT_NOFILE of a process from /proc/<pid>/limits (proc(5)): the
// "Max open files" line, soft and hard limit. A process's limit can change
// (prlimit, setrlimit) but rarely does: the owner directory reads it once per
// process (pid and start time), not every poll.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "common/result.h"

namespace tcpstate {

struct OpenFilesLimit {
  int64_t soft = -1;  // -1: unlimited
  int64_t hard = -1;
};

// Parses the content of a limits file.
Result<OpenFilesLimit> ParseOpenFilesLimit(std::string_view limits);

// Reads <proc_root>/<pid>/limits (about 1.5 KiB; cut at 8 KiB).
Result<OpenFilesLimit> ReadOpenFilesLimit(const std::filesystem::path& proc_root, int32_t pid);

}  // namespace tcpstate
