#include "common/html_escape.h"

#include <gtest/gtest.h>

namespace tcpstate {
namespace {

TEST(HtmlEscape, MarkupAndQuotesBecomeEntities) {
  EXPECT_EQ(HtmlEscape("<a href='x'>&\"</a>"), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  EXPECT_EQ(HtmlEscape("&amp;"), "&amp;amp;");  // escaped again, never trusted
  EXPECT_EQ(HtmlEscape("plain /metrics \xef\xbf\xbd"), "plain /metrics \xef\xbf\xbd");
  EXPECT_EQ(HtmlEscape(""), "");
}

}  // namespace
}  // namespace tcpstate
