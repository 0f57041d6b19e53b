// Why a socket-table read failed, with one name table (read_failure.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tcpstate {

// Why a read failed: the `reason` label of tcpstate_netlink_errors_total
// (ReadFailureName). kCancelled and kDeadline are not errors of the kernel's
// and are counted elsewhere. Ends with kCount.
enum class ReadFailure : uint8_t {
  kSocket,       // the netlink socket could not be opened
  kSend,         // the request could not be sent
  kRecv,         // receiving failed
  kTruncated,    // a datagram or message ended early, or did not fit
  kMalformed,    // a message is not what the uapi headers describe
  kSequence,     // a reply to another request (sequence number or port)
  kNlmsgError,   // the kernel answered NLMSG_ERROR
  kDoneError,    // an error inside NLMSG_DONE
  kInterrupted,  // NLM_F_DUMP_INTR on every attempt
  kCancelled,    // shutdown
  kDeadline,     // past ReadOptions::deadline
  kCount,
};
inline constexpr size_t kReadFailureCount = static_cast<size_t>(ReadFailure::kCount);
std::string_view ReadFailureName(ReadFailure failure);

}  // namespace tcpstate
