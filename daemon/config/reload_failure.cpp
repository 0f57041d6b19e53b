#include "config/reload_failure.h"

#include <iterator>

namespace tcpstate {
namespace {

// Key paths are the configuration's own names ("processes.groups[1].match"),
// but an unknown key is whatever the file says: keep the characters of a key
// path, replace the others and cap the length.
std::string SanitizeKey(std::string_view key) {
  std::string out;
  for (const char c : key.substr(0, kReloadFailureKeyMax)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == '-' || c == '.' || c == '[' || c == ']' || c == '(' ||
                      c == ')' || c == ' ';
    out += keep ? c : '_';
  }
  if (key.size() > kReloadFailureKeyMax) out.replace(kReloadFailureKeyMax - 3, 3, "...");
  return out;
}

}  // namespace

std::string_view ReloadFileName(ReloadFile file) {
  static constexpr std::string_view kNames[] = {"config", "web_config"};
  static_assert(std::size(kNames) == kReloadFileCount);
  return kNames[static_cast<size_t>(file)];
}

std::string_view ReloadFailureReasonName(ReloadFailureReason reason) {
  static constexpr std::string_view kNames[] = {"invalid", "unreadable", "yaml_syntax"};
  static_assert(std::size(kNames) == kReloadFailureReasonCount);
  return kNames[static_cast<size_t>(reason)];
}

ReloadFailure ClassifyReloadError(ReloadFile file, const Error& error) {
  ReloadFailure failure{file, ReloadFailureReason::kInvalid, ""};
  switch (error.kind) {
    case ErrorKind::kConfigUnreadable:  // the file itself; one it names is an invalid value
      failure.reason = ReloadFailureReason::kUnreadable;
      break;
    case ErrorKind::kConfigSyntax:
      failure.reason = ReloadFailureReason::kYamlSyntax;
      break;
    default:
      failure.key = SanitizeKey(error.key);
      break;
  }
  return failure;
}

}  // namespace tcpstate
