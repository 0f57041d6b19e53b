// Reads a small kernel-generated file (/proc, /sys) whole, with plain
// open/read: no iostream set-up per file, which dominated the cost of the
// per-namespace sysctl reads. Not for files a pod controls (netns/pod_files.h).
//
// Thread-safe: a free function without shared state.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace tcpstate {

// At most `limit` bytes; a longer file is cut there.
Result<std::string> ReadSmallFile(const std::string& path, size_t limit = 64 * 1024);

}  // namespace tcpstate
