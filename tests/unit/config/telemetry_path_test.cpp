// web.telemetry_path and --web.telemetry-path (config/config_loader.h): what
// a metrics path may be, and the configuration key.
#include <gtest/gtest.h>

#include <string>

#include "config/config_loader.h"

namespace tcpstate {
namespace {

TEST(ValidateTelemetryPath, Accepts) {
  for (const char* path : {"/metrics", "/tcpstate/metrics", "/m", "/metrics/", "/a-b_c.d~e"}) {
    EXPECT_TRUE(ValidateTelemetryPath(path).ok()) << path;
  }
}

TEST(ValidateTelemetryPath, Rejects) {
  for (const char* path : {"", "metrics", "/", "/healthz", "/readyz", "/with space", "/q?x=1",
                           "/frag#x", "/tab\there", "/caf\xc3\xa9"}) {
    auto ok = ValidateTelemetryPath(path);
    EXPECT_FALSE(ok.ok()) << path;
    if (!ok.ok()) {
      EXPECT_EQ(ok.error().kind, ErrorKind::kInvalid) << path;
    }
  }
  EXPECT_FALSE(ValidateTelemetryPath("/" + std::string(256, 'a')).ok());
  EXPECT_TRUE(ValidateTelemetryPath("/" + std::string(255, 'a')).ok());
}

TEST(ValidateTelemetryPath, MessageSaysWhy) {
  auto ok = ValidateTelemetryPath("/healthz");
  ASSERT_FALSE(ok.ok());
  EXPECT_NE(ok.error().message.find("/healthz"), std::string::npos) << ok.error().message;
  ok = ValidateTelemetryPath("metrics");
  ASSERT_FALSE(ok.ok());
  EXPECT_NE(ok.error().message.find("must start with '/'"), std::string::npos)
      << ok.error().message;
}

TEST(TelemetryPathConfig, DefaultAndKey) {
  auto defaults = ParseConfig("{}");
  ASSERT_TRUE(defaults.ok()) << defaults.error().message;
  EXPECT_EQ(defaults->web.telemetry_path, "/metrics");
  auto set = ParseConfig("web:\n  telemetry_path: /tcpstate/metrics\n");
  ASSERT_TRUE(set.ok()) << set.error().message;
  EXPECT_EQ(set->web.telemetry_path, "/tcpstate/metrics");
}

TEST(TelemetryPathConfig, InvalidValueNamesTheKey) {
  auto bad = ParseConfig("web:\n  telemetry_path: /readyz\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().kind, ErrorKind::kConfigInvalid);
  EXPECT_EQ(bad.error().key, "web.telemetry_path");
}

TEST(TelemetryPathConfig, ShippedConfigsUseTheDefault) {
  for (const char* file :
       {"/config/tcpstate_exporter.yml", "/deploy/kubernetes/base/tcpstate_exporter.yml"}) {
    auto loaded = LoadConfigFile(std::string(TCPSTATE_SOURCE_DIR) + file);
    ASSERT_TRUE(loaded.ok()) << file << ": " << loaded.error().message;
    EXPECT_EQ(loaded->web.telemetry_path, "/metrics") << file;
  }
}

}  // namespace
}  // namespace tcpstate
