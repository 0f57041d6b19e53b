// Why a SIGHUP reload was rejected, in a few bounded label values for
// tcpstate_config_last_reload_failure_info. The loaders report
// "cannot read <kind> file <path>" when the file cannot be opened, and
// "<path>: YAML syntax error at line ..." or "<path>: <key path>: <message>"
// once it was read (config/yaml_checks.h writes these forms); this reads
// them back.
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

// `file` is "config" or "web_config", `file_path` the path the loader was
// given (the prefix of its messages).
ReloadFailure ClassifyReloadError(std::string_view file, std::string_view file_path,
                                  const Error& error);

}  // namespace tcpstate
