#include "netlink/read_failure.h"

#include <iterator>

namespace tcpstate {

std::string_view ReadFailureName(ReadFailure failure) {
  static constexpr std::string_view kNames[] = {
      "socket",      "send",       "recv",        "truncated", "malformed", "sequence",
      "nlmsg_error", "done_error", "interrupted", "cancelled", "deadline",
  };
  static_assert(std::size(kNames) == kReadFailureCount);
  return kNames[static_cast<size_t>(failure)];
}

}  // namespace tcpstate
