// The reason and key of tcpstate_config_last_reload_failure_info, from the
// errors the real loaders return.
#include "config/reload_failure.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config_loader.h"
#include "http/web_config.h"

namespace tcpstate {
namespace {

class ReloadFailureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/tcpstate-reload-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  ReloadFailure Config(const std::string& text) {
    const std::string path = Write("config.yml", text);
    auto loaded = LoadConfigFile(path);
    EXPECT_FALSE(loaded.ok()) << text;
    return loaded.ok() ? ReloadFailure{} : ClassifyReloadError(ReloadFile::kConfig, loaded.error());
  }

  ReloadFailure Web(const std::string& text) {
    const std::string path = Write("web.yml", text);
    auto loaded = LoadWebConfigFile(path);
    EXPECT_FALSE(loaded.ok()) << text;
    return loaded.ok() ? ReloadFailure{}
                       : ClassifyReloadError(ReloadFile::kWebConfig, loaded.error());
  }

  std::filesystem::path dir_;
};

TEST_F(ReloadFailureTest, InvalidValueNamesItsKey) {
  const ReloadFailure f = Config("poll:\n  interval: 0s\n");
  EXPECT_EQ(ReloadFileName(f.file), "config");
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "invalid");
  EXPECT_EQ(f.key, "poll.interval");
  EXPECT_EQ(Config("processes:\n  groups:\n    - name: a\n      match: '('\n").key,
            "processes.groups[0].match");
}

TEST_F(ReloadFailureTest, UnknownKeyIsInvalidAtThatKey) {
  const ReloadFailure f = Config("poll:\n  intervall: 1s\n");
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "invalid");
  EXPECT_EQ(f.key, "poll.intervall");
  EXPECT_EQ(Config("- 1\n").key, "(top level)");
}

TEST_F(ReloadFailureTest, SyntaxError) {
  const ReloadFailure f = Config("poll: [\n");
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "yaml_syntax");
  EXPECT_EQ(f.key, "");
}

TEST_F(ReloadFailureTest, UnreadableFile) {
  const std::string path = (dir_ / "missing.yml").string();
  auto loaded = LoadConfigFile(path);
  ASSERT_FALSE(loaded.ok());
  const ReloadFailure f = ClassifyReloadError(ReloadFile::kConfig, loaded.error());
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "unreadable");
  EXPECT_EQ(f.key, "");
  auto web = LoadWebConfigFile(path);
  ASSERT_FALSE(web.ok());
  EXPECT_EQ(
      ReloadFailureReasonName(ClassifyReloadError(ReloadFile::kWebConfig, web.error()).reason),
      "unreadable");
}

TEST_F(ReloadFailureTest, WebConfig) {
  ReloadFailure f = Web("basic_auth_users:\n  alice: notbcrypt\n");
  EXPECT_EQ(ReloadFileName(f.file), "web_config");
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "invalid");
  EXPECT_EQ(f.key, "basic_auth_users.alice");
  EXPECT_EQ(ReloadFailureReasonName(Web("tls_server_config: {\n").reason), "yaml_syntax");
  // A certificate named in the file that cannot be read is an invalid value,
  // not an unreadable web config file.
  f = Web("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n");
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "invalid");
}

TEST_F(ReloadFailureTest, KeyIsSanitizedAndCapped) {
  // An unknown key is whatever the file says.
  ReloadFailure f = Config("poll:\n  \"in\\\"ter{val}\": 1s\n");
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "invalid");
  EXPECT_EQ(f.key, "poll.in_ter_val_");
  f = Config("poll:\n  " + std::string(200, 'x') + ": 1s\n");
  EXPECT_EQ(f.key.size(), kReloadFailureKeyMax);
  EXPECT_TRUE(f.key.ends_with("...")) << f.key;
  // A message without a key path: no key.
  f = ClassifyReloadError(ReloadFile::kWebConfig,
                          MakeError(ErrorKind::kInvalid, "cannot load certificate"));
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "invalid");
  EXPECT_EQ(f.key, "");
}

// The reason and key come from the error's kind and key, never from its text:
// a value that happens to read like another kind of failure stays what it is.
TEST_F(ReloadFailureTest, KindAndKeyDecideNotTheMessage) {
  Error error = MakeError(ErrorKind::kConfigInvalid, "cannot read this: YAML syntax error");
  error.key = "web.listen_address";
  ReloadFailure f = ClassifyReloadError(ReloadFile::kConfig, error);
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "invalid");
  EXPECT_EQ(f.key, "web.listen_address");
  f = ClassifyReloadError(ReloadFile::kConfig,
                          MakeError(ErrorKind::kConfigSyntax, "poll.interval: x"));
  EXPECT_EQ(ReloadFailureReasonName(f.reason), "yaml_syntax");
  EXPECT_EQ(f.key, "");
}

}  // namespace
}  // namespace tcpstate
