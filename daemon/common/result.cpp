#include "common/result.h"

#include <cstring>

namespace tcpstate {

std::string_view ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kSystem:
      return "system";
    case ErrorKind::kInvalid:
      return "invalid";
    case ErrorKind::kTruncated:
      return "truncated";
    case ErrorKind::kUnexpected:
      return "unexpected";
    case ErrorKind::kKernelError:
      return "kernel_error";
    case ErrorKind::kKernelDoneError:
      return "kernel_done_error";
    case ErrorKind::kInterrupted:
      return "interrupted";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kDeadline:
      return "deadline";
    case ErrorKind::kConfigUnreadable:
      return "config_unreadable";
    case ErrorKind::kConfigSyntax:
      return "config_syntax";
    case ErrorKind::kConfigInvalid:
      return "config_invalid";
  }
  return "unknown";
}

Error ErrnoError(int errnum, std::string what) {
  what += ": ";
  what += std::strerror(errnum);
  return Error{ErrorKind::kSystem, errnum, std::move(what), {}};
}

Error MakeError(ErrorKind kind, std::string message, int errnum) {
  return Error{kind, errnum, std::move(message), {}};
}

}  // namespace tcpstate
