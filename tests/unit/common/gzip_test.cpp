// common/gzip.h: one gzip member per call, readable by zlib's inflate.
#include "common/gzip.h"

#include <gtest/gtest.h>

#include <string>

#include "support/gunzip.h"

namespace tcpstate {
namespace {

using testing::Gunzip;

// A realistic, compressible exposition: `n` series of one gauge.
std::string Exposition(int n) {
  std::string text =
      "# HELP tcpstate_port_sockets Sockets per state by the port they concern.\n"
      "# TYPE tcpstate_port_sockets gauge\n";
  for (int i = 0; i < n; ++i) {
    text += "tcpstate_port_sockets{direction=\"inbound\",port=\"" + std::to_string(20000 + i) +
            "\",state=\"established\"} " + std::to_string(i % 7) + "\n";
  }
  return text;
}

TEST(Gzip, RoundTrips) {
  for (const std::string& text : {std::string(), std::string("x"), Exposition(2000)}) {
    const std::string gz = GzipCompress(text);
    ASSERT_GE(gz.size(), 18u);  // header + trailer
    EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
    EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
    EXPECT_EQ(Gunzip(gz), text);
  }
}

}  // namespace
}  // namespace tcpstate
