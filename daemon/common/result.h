// Recoverable errors as values. Exceptions are reserved for fatal start-up
// errors, which main() catches.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tcpstate {

// What went wrong, for code to act on: label values (the `reason` of
// tcpstate_netlink_errors_total, of a failed reload) come from the kind,
// never from the message.
enum class ErrorKind : uint8_t {
  kSystem,            // a system call failed; errnum says why
  kInvalid,           // input (a file, a datagram, a value) is not what it must be
  kTruncated,         // input ended early, or did not fit
  kUnexpected,        // a netlink message that is not an answer to our request
  kKernelError,       // the kernel answered NLMSG_ERROR; errnum is its error
  kKernelDoneError,   // an error inside NLMSG_DONE; errnum is its error
  kInterrupted,       // the socket table changed during every dump (NLM_F_DUMP_INTR)
  kCancelled,         // shutdown asked for it
  kDeadline,          // past the read's deadline
  kConfigUnreadable,  // a configuration file could not be read
  kConfigSyntax,      // a configuration file is not YAML
  kConfigInvalid,     // a configuration value; `key` names it when known
};

// Stable name of `kind` (logs, tests).
std::string_view ErrorKindName(ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::kInvalid;
  int errnum = 0;       // errno when there is one, else 0
  std::string message;  // for people: what and where
  std::string key;      // configuration errors: the key path, "processes.groups[1].match"
};

// A failed system call: kind kSystem, "<what>: <strerror(errnum)>".
Error ErrnoError(int errnum, std::string what);
Error MakeError(ErrorKind kind, std::string message, int errnum = 0);

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
struct Ok {};
using Status = Result<Ok>;
inline Status OkStatus() { return Ok{}; }

}  // namespace tcpstate
