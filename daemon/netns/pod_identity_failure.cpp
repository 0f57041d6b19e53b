#include "netns/pod_identity_failure.h"

#include <iterator>

namespace tcpstate {

std::string_view PodIdentityFailureName(PodIdentityFailure failure) {
  // The pod file reasons are PodFileProblemLabel's (tcpstate_pod_identity_failures_total
  // and the pod files' own problems share their names).
  static constexpr std::string_view kNames[] = {
      "missing", "symlink_loop", "not_regular", "too_large",   "unsafe_filesystem",
      "error",   "timeout",      "busy",        "kubelet_dir", "kubelet_unknown",
  };
  static_assert(std::size(kNames) == kPodIdentityFailureCount);
  return kNames[static_cast<size_t>(failure)];
}

PodIdentityFailure PodIdentityFailureOf(PodFileProblem problem) {
  switch (problem) {
    case PodFileProblem::kMissing:
      return PodIdentityFailure::kMissing;
    case PodFileProblem::kSymlinkLoop:
      return PodIdentityFailure::kSymlinkLoop;
    case PodFileProblem::kNotRegular:
      return PodIdentityFailure::kNotRegular;
    case PodFileProblem::kTooLarge:
      return PodIdentityFailure::kTooLarge;
    case PodFileProblem::kUnsafeFilesystem:
      return PodIdentityFailure::kUnsafeFilesystem;
    case PodFileProblem::kNone:
    case PodFileProblem::kError:
      break;
  }
  return PodIdentityFailure::kError;
}

}  // namespace tcpstate
