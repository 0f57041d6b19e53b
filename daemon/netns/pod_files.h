// Reads small files inside a pod's root file system as hostile input: the
// pod's image and its processes decide what is there. Paths are resolved
// inside the pod's root (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, so
// an absolute or `..` symlink can never reach the node's files), only regular
// files are opened for reading (a FIFO, device or socket is never opened,
// only looked at through O_PATH), reads are non-blocking and bounded, and
// files on network or FUSE file systems (whose reads may block) are refused.
//
// Thread-safe: free functions without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace tcpstate {

// Why a file in a pod could not be read; each is a label value of
// tcpstate_pod_identity_unsafe_total.
enum class PodFileProblem : uint8_t {
  kNone = 0,
  kMissing,           // no such file (also: a symlink whose target is not in the pod)
  kSymlinkLoop,       // ELOOP: a symlink loop or a magic link (/proc/self/...)
  kNotRegular,        // a FIFO, device, socket or directory
  kTooLarge,          // bigger than the limit (also sparse files), or grew while read
  kUnsafeFilesystem,  // FUSE or network file system: a read may block
  kError,             // any other failure (permission, I/O...)
};
inline constexpr size_t kPodFileProblemCount = 7;

std::string_view PodFileProblemLabel(PodFileProblem problem);

struct PodFile {
  PodFileProblem problem = PodFileProblem::kNone;
  std::string content;  // at most the limit; set when problem == kNone
  bool ok() const { return problem == PodFileProblem::kNone; }
};

// Opens /proc/<pid>/root (a directory fd standing for the pod's root).
UniqueFd OpenPodRoot(const std::string& proc_root, int32_t pid);

// Reads `relative_path` (no leading slash needed) below `root`, at most
// `limit` bytes.
PodFile ReadPodFile(const UniqueFd& root, std::string_view relative_path, size_t limit);

}  // namespace tcpstate
