// YAML -> Config. Every error names the key path ("processes.groups[1].match:
// invalid regex ..."); unknown keys and wrong types are errors, so a typo
// never silently falls back to a default.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"
#include "config/config.h"

namespace tcpstate {

Result<Config> ParseConfig(std::string_view yaml);
Result<Config> LoadConfigFile(const std::string& path);

// "15s", "500ms", "1m30s", "2h": Prometheus-style durations.
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// ":9930", "127.0.0.1:9930", "[::1]:9930" -> the same, validated.
Status ValidateListenAddress(std::string_view address);

// web.telemetry_path, --web.telemetry-path: starts with '/', at most 256
// bytes of printable ASCII without '?', '#' or spaces, and is none of the
// exporter's other paths ("/", "/healthz", "/readyz").
Status ValidateTelemetryPath(std::string_view path);

}  // namespace tcpstate
