#include "common/utf8.h"

#include <gtest/gtest.h>

namespace tcpstate {
namespace {

TEST(Utf8, ValidTextUnchanged) {
  EXPECT_EQ(SanitizeLabelValue("nginx"), "nginx");
  EXPECT_EQ(SanitizeLabelValue("café"), "café");
  EXPECT_EQ(SanitizeLabelValue("日本"), "日本");
}

TEST(Utf8, InvalidAndControlBytesReplaced) {
  EXPECT_EQ(SanitizeLabelValue("a\xff"
                               "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeLabelValue("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(SanitizeLabelValue("\xED\xA0\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(SanitizeLabelValue("a\tb"),
            "a\xEF\xBF\xBD"
            "b");
}

TEST(Utf8, CutOnCharacterBoundary) {
  EXPECT_EQ(SanitizeLabelValue("ééé", 5), "éé");
  EXPECT_EQ(SanitizeLabelValue("abcdef", 3), "abc");
}

}  // namespace
}  // namespace tcpstate
