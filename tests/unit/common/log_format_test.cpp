// --log.format lines (common/log_format.h): logfmt and JSON as the Go
// exporters write them, with hostile messages kept on one parseable line.
#include "common/log_format.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace tcpstate {
namespace {

// 2026-12-03T14:00:00.123Z
const auto kTime = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796306400123));

TEST(LogFormat, ParsesNames) {
  EXPECT_EQ(ParseLogFormat("logfmt"), LogFormat::kLogfmt);
  EXPECT_EQ(ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(ParseLogFormat("text").has_value());
  EXPECT_FALSE(ParseLogFormat("").has_value());
  EXPECT_FALSE(ParseLogFormat("JSON").has_value());
}

TEST(LogFormat, TimestampIsRfc3339UtcWithMilliseconds) {
  EXPECT_EQ(FormatLogTimestamp(kTime), "2026-12-03T14:00:00.123Z");
  EXPECT_EQ(FormatLogTimestamp(std::chrono::system_clock::time_point()),
            "1970-01-01T00:00:00.000Z");
}

TEST(LogFormat, Logfmt) {
  EXPECT_EQ(FormatLogLine(LogFormat::kLogfmt, kTime, "info", "listening on :9930"),
            "ts=2026-12-03T14:00:00.123Z level=info msg=\"listening on :9930\"\n");
}

TEST(LogFormat, Json) {
  EXPECT_EQ(FormatLogLine(LogFormat::kJson, kTime, "warn", "x"),
            "{\"ts\":\"2026-12-03T14:00:00.123Z\",\"level\":\"warn\",\"msg\":\"x\"}\n");
}

TEST(LogFormat, EscapesQuotesBackslashesAndControls) {
  std::string out;
  AppendQuoted(out, std::string("a\"b\\c\nd\re\tf\x01g\x7fh\0i", 17));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\re\\tf\\u0001g\\u007fh\\u0000i\"");
}

TEST(LogFormat, KeepsValidUtf8AndReplacesInvalidBytes) {
  std::string out;
  AppendQuoted(out, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // é € 😀
  EXPECT_EQ(out, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  out.clear();
  // A lone continuation byte, a truncated sequence, an overlong '/', a surrogate.
  AppendQuoted(out, "a\x80 b\xe2\x82 c\xc0\xaf d\xed\xa0\x80");
  EXPECT_EQ(out, "\"a\\ufffd b\\ufffd\\ufffd c\\ufffd\\ufffd d\\ufffd\\ufffd\\ufffd\"");
}

TEST(LogFormat, HostileProcessNameStaysOneLine) {
  const std::string hostile = "evil\" level=error msg=\"forged\n{\"level\":\"x\"}";
  for (const LogFormat format : {LogFormat::kLogfmt, LogFormat::kJson}) {
    const std::string line = FormatLogLine(format, kTime, "info", "process " + hostile);
    EXPECT_EQ(line.find('\n'), line.size() - 1) << line;
    // The only unescaped quotes are the format's own.
    size_t unescaped = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '"' && (i == 0 || line[i - 1] != '\\')) ++unescaped;
    }
    EXPECT_EQ(unescaped, format == LogFormat::kJson ? 12u : 2u) << line;
  }
}

}  // namespace
}  // namespace tcpstate
