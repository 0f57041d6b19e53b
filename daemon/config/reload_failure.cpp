#include "config/reload_failure.h"

#include "config/yaml_checks.h"

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

ReloadFailure ClassifyReloadError(std::string_view file, std::string_view file_path,
                                  const Error& error) {
  ReloadFailure failure{std::string(file), "invalid", ""};
  std::string_view message = error.message;
  // The loaders' own open failure; a file named inside the configuration
  // (a certificate, say) that cannot be read is an invalid value.
  if (message.starts_with(kCannotReadPrefix)) {
    failure.reason = "unreadable";
    return failure;
  }
  if (!file_path.empty() && message.starts_with(file_path) &&
      message.substr(file_path.size()).starts_with(": ")) {
    message.remove_prefix(file_path.size() + 2);
  }
  if (message.starts_with(kYamlSyntaxErrorPrefix)) {
    failure.reason = "yaml_syntax";
    return failure;
  }
  // "<key path>: <message>"; a key path has no spaces except kTopLevelKey.
  const size_t colon = message.find(": ");
  if (colon != std::string_view::npos && colon > 0) {
    const std::string_view key = message.substr(0, colon);
    if (key == kTopLevelKey || key.find(' ') == std::string_view::npos) {
      failure.key = SanitizeKey(key);
    }
  }
  return failure;
}

}  // namespace tcpstate
