#include "common/log_format.h"

#include <cstdint>
#include <cstdio>
#include <ctime>

namespace tcpstate {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if none does.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b0 = byte(i);
  size_t length = 0;
  uint8_t low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) low = 0xA0;   // overlong
    if (b0 == 0xED) high = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) low = 0x90;   // overlong
    if (b0 == 0xF4) high = 0x8F;  // beyond U+10FFFF
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (size_t k = 2; k < length; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return length;
}

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view name) {
  if (name == "logfmt") return LogFormat::kLogfmt;
  if (name == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::string FormatLogTimestamp(std::chrono::system_clock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  const auto seconds = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch - seconds).count();
  const std::time_t t = static_cast<std::time_t>(seconds.count());
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[40];
  const int n = std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour,
                              utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return std::string(buffer, n > 0 ? static_cast<size_t>(n) : 0);
}

void AppendQuoted(std::string& out, std::string_view value) {
  out.push_back('"');
  for (size_t i = 0; i < value.size();) {
    const auto c = static_cast<uint8_t>(value[i]);
    if (c >= 0x80) {
      if (const size_t n = Utf8SequenceLength(value, i)) {
        out.append(value.substr(i, n));
        i += n;
      } else {
        out.append("\\ufffd");
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          char escape[8];
          std::snprintf(escape, sizeof(escape), "\\u%04x", c);
          out.append(escape);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

std::string FormatLogLine(LogFormat format, std::chrono::system_clock::time_point time,
                          std::string_view level, std::string_view message) {
  std::string line;
  line.reserve(message.size() + 64);
  if (format == LogFormat::kJson) {
    line.append("{\"ts\":");
    AppendQuoted(line, FormatLogTimestamp(time));
    line.append(",\"level\":");
    AppendQuoted(line, level);
    line.append(",\"msg\":");
    AppendQuoted(line, message);
    line.append("}\n");
  } else {
    line.append("ts=").append(FormatLogTimestamp(time));
    line.append(" level=").append(level);
    line.append(" msg=");
    AppendQuoted(line, message);
    line.push_back('\n');
  }
  return line;
}

}  // namespace tcpstate
