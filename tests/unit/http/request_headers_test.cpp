// Request header values the endpoint acts on (http/request_headers.h).
#include "http/request_headers.h"

#include <gtest/gtest.h>

namespace tcpstate {
namespace {

TEST(AcceptsGzip, WhatClientsSend) {
  EXPECT_TRUE(AcceptsGzip("gzip"));                     // Prometheus
  EXPECT_TRUE(AcceptsGzip("deflate, gzip"));            // curl --compressed
  EXPECT_TRUE(AcceptsGzip("gzip, deflate, br, zstd"));  // browsers
  EXPECT_FALSE(AcceptsGzip(""));                        // no header: as is
  EXPECT_FALSE(AcceptsGzip("identity"));
  EXPECT_FALSE(AcceptsGzip("br, deflate"));
}

TEST(AcceptsGzip, CaseAndSpacing) {
  EXPECT_TRUE(AcceptsGzip("GZIP"));
  EXPECT_TRUE(AcceptsGzip("  br ,\tGzip ;q=0.5 "));
  EXPECT_TRUE(AcceptsGzip("x-gzip"));
  EXPECT_FALSE(AcceptsGzip("gzipx"));
  EXPECT_FALSE(AcceptsGzip("xgzip, gz"));
}

TEST(AcceptsGzip, ZeroWeightRefuses) {
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip; q=0.000"));
  EXPECT_FALSE(AcceptsGzip("gzip;Q=0.0, identity"));
  EXPECT_TRUE(AcceptsGzip("gzip;q=0.001"));
  EXPECT_TRUE(AcceptsGzip("gzip;q=1"));
  EXPECT_TRUE(AcceptsGzip("gzip;level=1;q=0.5"));
  EXPECT_TRUE(AcceptsGzip("gzip;q="));  // malformed weight: not a refusal
}

TEST(AcceptsGzip, Wildcard) {
  EXPECT_TRUE(AcceptsGzip("*"));
  EXPECT_TRUE(AcceptsGzip("br, *;q=0.1"));
  EXPECT_FALSE(AcceptsGzip("*;q=0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0, *"));  // named beats the wildcard
  EXPECT_TRUE(AcceptsGzip("gzip, *;q=0"));
}

TEST(HasToken, ConnectionValues) {
  EXPECT_TRUE(HasToken("close", "close"));
  EXPECT_TRUE(HasToken("Keep-Alive", "keep-alive"));
  EXPECT_TRUE(HasToken("Upgrade, keep-alive", "keep-alive"));
  EXPECT_TRUE(HasToken(" TE ,\tclose ", "close"));
  EXPECT_FALSE(HasToken("", "close"));
  EXPECT_FALSE(HasToken("closed", "close"));
  EXPECT_FALSE(HasToken("keep-alive", "close"));
}

}  // namespace
}  // namespace tcpstate
