// Why a pod's name or namespace could not be read, with one name table
// (pod_identity_failure.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "netns/pod_files.h"

namespace tcpstate {

// The `reason` label of tcpstate_pod_identity_failures_total
// (PodIdentityFailureName). Ends with kCount.
enum class PodIdentityFailure : uint8_t {
  // A pod file (mode pod), one per PodFileProblem but kNone.
  kMissing,
  kSymlinkLoop,
  kNotRegular,
  kTooLarge,
  kUnsafeFilesystem,
  kError,
  // Background reads (mode pod).
  kTimeout,  // a read that missed its deadline
  kBusy,     // too many reads still stuck
  // The kubelet's pod log directories (mode kubelet).
  kKubeletDir,      // the directory could not be listed
  kKubeletUnknown,  // a pod UID not, or not yet, in it
  kCount,
};
inline constexpr size_t kPodIdentityFailureCount = static_cast<size_t>(PodIdentityFailure::kCount);

std::string_view PodIdentityFailureName(PodIdentityFailure failure);

// The failure a pod file's problem counts as; `problem` is not kNone.
PodIdentityFailure PodIdentityFailureOf(PodFileProblem problem);

}  // namespace tcpstate
