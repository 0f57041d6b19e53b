// Why a SIGHUP reload was rejected, in a few bounded label values for
// tcpstate_config_last_reload_failure_info, from the loader's typed error:
// its kind (unreadable file, YAML syntax, invalid value) and key path.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace tcpstate {

struct ReloadFailure {
  std::string file;    // "config" or "web_config"
  std::string reason;  // "unreadable", "yaml_syntax" or "invalid"
  std::string key;     // for "invalid": the key path when the message names one, else empty
  bool operator==(const ReloadFailure&) const = default;
};

// Longest key label value; a longer key path is cut and ends in "...".
inline constexpr size_t kReloadFailureKeyMax = 64;

// `file` is "config" or "web_config".
ReloadFailure ClassifyReloadError(std::string_view file, const Error& error);

}  // namespace tcpstate
