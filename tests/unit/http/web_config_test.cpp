#include "http/web_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "config/config_loader.h"
#include "support/http_test_pki.h"

namespace tcpstate {
namespace {

using testing::MakeCa;
using testing::MakeServer;
using testing::Pki;
using testing::TempDir;
using testing::WriteFile;

constexpr const char* kHash = "$2y$04$Qu8nw6GKUuYExLxRo3Z6C.G467U06ALjvx2DASQtr4/0VtnpAGmFe";

class WebConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    WriteFile(dir_.File("server.crt"), server_.cert_pem);
    WriteFile(dir_.File("server.key"), server_.key_pem);
    WriteFile(dir_.File("ca.crt"), ca_.cert_pem);
    Pki other = MakeServer(ca_, "other");
    WriteFile(dir_.File("other.key"), other.key_pem);
    WriteFile(dir_.File("garbage.pem"), "not a certificate\n");
  }

  Result<WebConfig> Parse(const std::string& yaml) { return ParseWebConfig(yaml, dir_.path()); }

  // The error of a bad file: must start with `key_path: ` and contain detail.
  void ExpectError(const std::string& yaml, const std::string& key_path,
                   const std::string& detail) {
    auto parsed = Parse(yaml);
    ASSERT_FALSE(parsed.ok()) << "accepted:\n" << yaml;
    const std::string& message = parsed.error().message;
    EXPECT_EQ(message.rfind(key_path + ": ", 0), 0u) << message;
    EXPECT_NE(message.find(detail), std::string::npos) << message;
  }

  TempDir dir_;
  Pki ca_ = MakeCa("test CA");
  Pki server_ = MakeServer(ca_);
};

constexpr const char* kTls =
    "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n";

TEST_F(WebConfigTest, EmptyFileMeansPlainHttpWithoutAuth) {
  auto c = Parse("");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->tls_enabled);
  EXPECT_TRUE(c->basic_auth_users.empty());
  EXPECT_TRUE(c->headers.empty());
  EXPECT_EQ(c->rate_limit_interval.count(), 0);
}

TEST_F(WebConfigTest, FullFile) {
  auto c =
      Parse(std::string(kTls) +
            "  client_auth_type: RequireAndVerifyClientCert\n"
            "  client_ca_file: ca.crt\n"
            "  client_allowed_sans: [prometheus]\n"
            "  min_version: TLS13\n"
            "  max_version: TLS13\n"
            "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n"
            "  prefer_server_cipher_suites: false\n"
            "  curve_preferences: [X25519, CurveP256]\n"
            "http_server_config:\n"
            "  http2: false\n"
            "  headers:\n"
            "    X-Frame-Options: deny\n"
            "    Strict-Transport-Security: max-age=31536000\n"
            "    X-XSS-Protection: ''\n"
            "basic_auth_users:\n"
            "  zed: " +
            kHash +
            "\n"
            "  alice: " +
            kHash +
            "\n"
            "rate_limit:\n  interval: 1s\n  burst: 20\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->tls_enabled);
  EXPECT_EQ(c->tls.cert_file, dir_.File("server.crt"));  // relative to the file's directory
  EXPECT_EQ(c->tls.client_ca_file, dir_.File("ca.crt"));
  EXPECT_EQ(c->tls.client_auth, ClientAuth::kRequireAndVerifyClientCert);
  EXPECT_EQ(c->tls.client_allowed_sans, std::vector<std::string>{"prometheus"});
  EXPECT_EQ(c->tls.min_version, TlsVersion::kTls13);
  EXPECT_EQ(c->tls.cipher_suites, (std::vector<std::string>{"ECDHE-ECDSA-AES128-GCM-SHA256", ""}));
  EXPECT_FALSE(c->tls.prefer_server_cipher_suites);
  EXPECT_EQ(c->tls.curve_groups, (std::vector<std::string>{"X25519", "P-256"}));
  EXPECT_FALSE(c->http2);
  ASSERT_EQ(c->headers.size(), 2u);  // the blank one is unset
  EXPECT_EQ(c->headers[0].first, "X-Frame-Options");
  ASSERT_EQ(c->basic_auth_users.size(), 2u);
  EXPECT_EQ(c->basic_auth_users[0].first, "alice");  // sorted
  EXPECT_EQ(c->rate_limit_interval, std::chrono::seconds(1));
  EXPECT_EQ(c->rate_limit_burst, 20u);
}

TEST_F(WebConfigTest, AuthWithoutTls) {
  auto c = Parse(std::string("basic_auth_users:\n  alice: '") + kHash + "'\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->tls_enabled);
  EXPECT_EQ(c->basic_auth_users.size(), 1u);
}

TEST_F(WebConfigTest, AbsolutePathsStay) {
  auto c = ParseWebConfig("tls_server_config:\n  cert_file: " + dir_.File("server.crt") +
                              "\n  key_file: " + dir_.File("server.key") + "\n",
                          "/nonexistent");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tls.key_file, dir_.File("server.key"));
}

TEST_F(WebConfigTest, InlineCertificateAndKey) {
  auto indent = [](const std::string& pem) {
    std::string out;
    std::istringstream in(pem);
    for (std::string line; std::getline(in, line);) out += "    " + line + "\n";
    return out;
  };
  auto c = Parse("tls_server_config:\n  cert: |\n" + indent(server_.cert_pem) + "  key: |\n" +
                 indent(server_.key_pem));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->tls_enabled);
  EXPECT_EQ(c->tls.cert_pem, server_.cert_pem);
}

TEST_F(WebConfigTest, LoadFileResolvesAgainstItsDirectory) {
  WriteFile(dir_.File("web.yml"), kTls);
  auto c = LoadWebConfigFile(dir_.File("web.yml"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tls.key_file, dir_.File("server.key"));
  EXPECT_EQ(c->path, dir_.File("web.yml"));
  auto missing = LoadWebConfigFile(dir_.File("missing.yml"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("missing.yml"), std::string::npos);
}

TEST_F(WebConfigTest, ShippedExampleLoads) {
  // config/web-config.example.yml with the files it names made up.
  std::ifstream in(TCPSTATE_SOURCE_DIR "/config/web-config.example.yml");
  ASSERT_TRUE(in);
  WriteFile(dir_.File("example.yml"), std::string(std::istreambuf_iterator<char>(in), {}));
  WriteFile(dir_.File("tcpstate_exporter.crt"), server_.cert_pem);
  WriteFile(dir_.File("tcpstate_exporter.key"), server_.key_pem);
  auto c = LoadWebConfigFile(dir_.File("example.yml"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_TRUE(c->tls_enabled);
  EXPECT_EQ(c->basic_auth_users.size(), 1u);
}

TEST_F(WebConfigTest, ErrorsNameTheKey) {
  const std::string h = kHash;
  ExpectError("tls_server_config:\n  cert_fiel: server.crt\n", "tls_server_config.cert_fiel",
              "unknown key");
  ExpectError("tls_config: {}\n", "tls_config", "unknown key");
  ExpectError(std::string(kTls) + "  min_version: TLS14\n", "tls_server_config.min_version",
              "unknown TLS version 'TLS14'");
  ExpectError(std::string(kTls) + "  min_version: TLS13\n  max_version: TLS12\n",
              "tls_server_config.min_version", "above max_version");
  ExpectError("tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n",
              "tls_server_config.cert_file", "cannot read");
  ExpectError("tls_server_config:\n  cert_file: garbage.pem\n  key_file: server.key\n",
              "tls_server_config.cert_file", "no valid PEM certificate");
  ExpectError("tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
              "tls_server_config.key_file", "does not belong to the certificate");
  ExpectError("tls_server_config:\n  cert_file: server.crt\n  key_file: server.crt\n",
              "tls_server_config.key_file", "no usable PEM private key");
  ExpectError("tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file",
              "missing");
  ExpectError("tls_server_config:\n  key_file: server.key\n", "tls_server_config.cert_file",
              "missing");
  ExpectError("tls_server_config:\n  min_version: TLS13\n", "tls_server_config.cert_file",
              "missing");
  ExpectError(std::string(kTls) + "  cert: x\n", "tls_server_config.cert", "not both");
  ExpectError(std::string(kTls) + "  client_ca_file: ca.crt\n", "tls_server_config.client_ca_file",
              "NoClientCert");
  ExpectError(std::string(kTls) + "  client_auth_type: RequireAndVerifyClientCert\n",
              "tls_server_config.client_ca_file", "missing");
  ExpectError(std::string(kTls) + "  client_auth_type: Sometimes\n",
              "tls_server_config.client_auth_type", "unknown client_auth_type");
  ExpectError(std::string(kTls) +
                  "  client_auth_type: VerifyClientCertIfGiven\n  client_ca_file: ca.crt\n"
                  "  client_allowed_sans: [x]\n",
              "tls_server_config.client_allowed_sans", "RequireAnyClientCert");
  ExpectError(std::string(kTls) +
                  "  client_auth_type: RequireAndVerifyClientCert\n"
                  "  client_ca_file: garbage.pem\n",
              "tls_server_config.client_ca_file", "no valid PEM certificate");
  ExpectError(std::string(kTls) + "  cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]\n",
              "tls_server_config.cipher_suites[0]", "unknown cipher suite");
  ExpectError(std::string(kTls) + "  curve_preferences: [CurveP256, P-384]\n",
              "tls_server_config.curve_preferences[1]", "unknown curve");
  ExpectError(std::string(kTls) + "  prefer_server_cipher_suites: maybe\n",
              "tls_server_config.prefer_server_cipher_suites", "true or false");
  ExpectError("basic_auth_users:\n  alice: secret\n", "basic_auth_users.alice",
              "not a bcrypt hash");
  ExpectError("basic_auth_users:\n  alice: $1$abc$def\n", "basic_auth_users.alice",
              "not a bcrypt hash");
  ExpectError("basic_auth_users:\n  'a:b': " + h + "\n", "basic_auth_users.a:b", "':'");
  ExpectError("basic_auth_users:\n  alice: " + h + "\n  alice: " + h + "\n",
              "basic_auth_users.alice", "twice");
  ExpectError("basic_auth_users:\n  alice: [x]\n", "basic_auth_users.alice", "bcrypt hash");
  ExpectError("basic_auth_users: [alice]\n", "basic_auth_users", "mapping");
  ExpectError("http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
              "http_server_config.headers.X-Frame-Options", "deny or sameorigin");
  ExpectError("http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
              "http_server_config.headers.X-Content-Type-Options", "nosniff");
  ExpectError("http_server_config:\n  headers:\n    Server: x\n",
              "http_server_config.headers.Server", "unknown key");
  ExpectError("http_server_config:\n  http3: true\n", "http_server_config.http3", "unknown key");
  ExpectError("rate_limit:\n  interval: fast\n", "rate_limit.interval", "bad duration");
  ExpectError("rate_limit:\n  interval: 1s\n", "rate_limit.burst", "at least 1");
  ExpectError("rate_limit:\n  interval: 1s\n  burst: -1\n", "rate_limit.burst", "whole number");
  ExpectError("[1, 2]\n", "(top level)", "mapping");
  auto syntax = Parse("tls_server_config: {cert_file: [\n");
  ASSERT_FALSE(syntax.ok());
  EXPECT_NE(syntax.error().message.find("YAML syntax error at line"), std::string::npos);
}

TEST_F(WebConfigTest, EmptyTlsSectionIsPlainHttp) {
  // As in exporter-toolkit: a present but empty tls_server_config is no TLS.
  auto c = Parse("tls_server_config:\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->tls_enabled);
  c = Parse("tls_server_config: {}\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->tls_enabled);
}

TEST_F(WebConfigTest, OldRequireClientCertSpelling) {
  auto c = Parse(std::string(kTls) + "  client_auth_type: RequireClientCert\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->tls.client_auth, ClientAuth::kRequireAnyClientCert);
}

// The web.* keys of the main configuration file (config_loader.cpp).
TEST(WebSection, ShippedFileEqualsBuiltInDefaults) {
  auto loaded = LoadConfigFile(TCPSTATE_SOURCE_DIR "/config/tcpstate_exporter.yml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config defaults;
  EXPECT_EQ(loaded->web.max_connections, defaults.web.max_connections);
  EXPECT_EQ(loaded->web.max_requests_in_flight, defaults.web.max_requests_in_flight);
  EXPECT_EQ(loaded->web.request_timeout, defaults.web.request_timeout);
}

TEST(WebSection, Limits) {
  auto c = ParseConfig(
      "web:\n  max_connections: 32\n  max_requests_in_flight: 4\n"
      "  request_timeout: 2500ms\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->web.max_connections, 32u);
  EXPECT_EQ(c->web.max_requests_in_flight, 4u);
  EXPECT_EQ(c->web.request_timeout, std::chrono::milliseconds(2500));
  for (const char* bad :
       {"web:\n  max_requests_in_flight: 0\n", "web:\n  max_requests_in_flight: 5000\n",
        "web:\n  max_requests_in_flight: many\n"}) {
    auto parsed = ParseConfig(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.error().message.rfind("web.max_requests_in_flight: ", 0), 0u)
        << parsed.error().message;
  }
}

}  // namespace
}  // namespace tcpstate
