// Why a SIGHUP reload was rejected, in a few bounded label values for
// tcpstate_config_last_reload_failure_info, from the loader's typed error:
// its kind (unreadable file, YAML syntax, invalid value) and key path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace tcpstate {

// The file a reload rejected: the `file` label (ReloadFileName). Ends with kCount.
enum class ReloadFile : uint8_t {
  kConfig,     // --config.file
  kWebConfig,  // --web.config.file
  kCount,
};
inline constexpr size_t kReloadFileCount = static_cast<size_t>(ReloadFile::kCount);
std::string_view ReloadFileName(ReloadFile file);

// Why: the `reason` label (ReloadFailureReasonName). Ends with kCount.
enum class ReloadFailureReason : uint8_t {
  kInvalid,     // a value or key the loader rejects
  kUnreadable,  // the file itself cannot be read
  kYamlSyntax,  // not YAML
  kCount,
};
inline constexpr size_t kReloadFailureReasonCount =
    static_cast<size_t>(ReloadFailureReason::kCount);
std::string_view ReloadFailureReasonName(ReloadFailureReason reason);

struct ReloadFailure {
  ReloadFile file = ReloadFile::kConfig;
  ReloadFailureReason reason = ReloadFailureReason::kInvalid;
  std::string key;  // for kInvalid: the key path when the message names one, else empty
  bool operator==(const ReloadFailure&) const = default;
};

// Longest key label value; a longer key path is cut and ends in "...".
inline constexpr size_t kReloadFailureKeyMax = 64;

ReloadFailure ClassifyReloadError(ReloadFile file, const Error& error);

}  // namespace tcpstate
