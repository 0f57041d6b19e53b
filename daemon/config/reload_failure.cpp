#include "config/reload_failure.h"

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

ReloadFailure ClassifyReloadError(std::string_view file, const Error& error) {
  ReloadFailure failure{std::string(file), "invalid", ""};
  switch (error.kind) {
    case ErrorKind::kConfigUnreadable:  // the file itself; one it names is an invalid value
      failure.reason = "unreadable";
      break;
    case ErrorKind::kConfigSyntax:
      failure.reason = "yaml_syntax";
      break;
    default:
      failure.key = SanitizeKey(error.key);
      break;
  }
  return failure;
}

}  // namespace tcpstate
