// Log lines in the formats of the Prometheus Go exporters (--log.format):
//   logfmt  ts=2026-12-03T14:00:00.123Z level=info msg="listening on :9930"
//   json    {"ts":"2026-12-03T14:00:00.123Z","level":"info","msg":"listening on :9930"}
// The message is always quoted and escaped: '"' and '\' with a backslash,
// newline, carriage return and tab as \n \r \t, other control characters
// (and DEL) as \u00XX, bytes that are not valid UTF-8 as \ufffd. Messages may
// carry process and pod names, which their owners choose: a line stays one
// line and parses whatever the name. main.cpp plugs this into spdlog.
//
// Thread-safe: free functions without shared state.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace tcpstate {

enum class LogFormat { kLogfmt, kJson };

// "logfmt" or "json"; nothing for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view name);

// RFC 3339 in UTC with milliseconds: 2026-12-03T14:00:00.123Z.
std::string FormatLogTimestamp(std::chrono::system_clock::time_point time);

// Appends `value` between double quotes, escaped as described above (the
// same escapes are valid in JSON strings and in logfmt values).
void AppendQuoted(std::string& out, std::string_view value);

// One line, '\n'-terminated. `level` is debug, info, warn or error.
std::string FormatLogLine(LogFormat format, std::chrono::system_clock::time_point time,
                          std::string_view level, std::string_view message);

}  // namespace tcpstate
