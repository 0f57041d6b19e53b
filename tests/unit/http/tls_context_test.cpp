// TLS settings of the HTTP server (http/tls_context.h), checked with real
// OpenSSL handshakes through an in-memory BIO pair: no sockets.
#include "http/tls_context.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <thread>

#include "support/http_test_pki.h"

namespace tcpstate {
namespace {

using testing::ClientContext;
using testing::Handshake;
using testing::MakeCa;
using testing::MakeClient;
using testing::MakeServer;
using testing::Pki;
using testing::TempDir;
using testing::WriteFile;

class TlsContextTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    WriteFile(dir_.File("server.crt"), server_.cert_pem);
    WriteFile(dir_.File("server.key"), server_.key_pem);
    WriteFile(dir_.File("ca.crt"), ca_.cert_pem);
    config_.cert_file = dir_.File("server.crt");
    config_.key_file = dir_.File("server.key");
  }

  // A server SSL_CTX configured from config_ (kept alive with the context).
  std::shared_ptr<SSL_CTX> ServerContext() {
    auto context = TlsContext::Create(config_);
    EXPECT_TRUE(context.ok()) << context.error().message;
    if (!context.ok()) return nullptr;
    context_ = std::move(*context);
    std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
    auto configured = context_->Configure(ctx.get());
    EXPECT_TRUE(configured.ok()) << configured.error().message;
    return ctx;
  }

  TempDir dir_;
  Pki ca_ = MakeCa("test CA");
  Pki server_ = MakeServer(ca_);
  TlsServerConfig config_;
  std::unique_ptr<TlsContext> context_;
};

TEST_F(TlsContextTest, ServesTheCertificateFromSeparateFiles) {
  auto server = ServerContext();
  ASSERT_TRUE(server);
  auto result = Handshake(server.get(), ClientContext(&ca_).get());
  EXPECT_TRUE(result.client_ok) << result.error;
  EXPECT_TRUE(result.server_ok) << result.error;
  EXPECT_EQ(result.version, "TLSv1.3");
  EXPECT_EQ(result.server_cert_cn, "exporter");
}

TEST_F(TlsContextTest, ClientTrustingAnotherCaFails) {
  auto server = ServerContext();
  Pki other = MakeCa("other CA");
  auto result = Handshake(server.get(), ClientContext(&other).get());
  EXPECT_FALSE(result.client_ok);
}

TEST_F(TlsContextTest, InlineCertificateAndKey) {
  config_.cert_file.clear();
  config_.key_file.clear();
  config_.cert_pem = server_.cert_pem;
  config_.key_pem = server_.key_pem;
  auto server = ServerContext();
  auto result = Handshake(server.get(), ClientContext(&ca_).get());
  EXPECT_TRUE(result.client_ok && result.server_ok) << result.error;
}

TEST_F(TlsContextTest, MinVersionTls13RejectsTls12Clients) {
  config_.min_version = TlsVersion::kTls13;
  auto server = ServerContext();
  EXPECT_FALSE(
      Handshake(server.get(), ClientContext(&ca_, nullptr, TLS1_2_VERSION).get()).server_ok);
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_).get()).server_ok);
}

TEST_F(TlsContextTest, MinVersionTls12AcceptsTls12Clients) {
  auto server = ServerContext();
  auto result = Handshake(server.get(), ClientContext(&ca_, nullptr, TLS1_2_VERSION).get());
  EXPECT_TRUE(result.server_ok) << result.error;
  EXPECT_EQ(result.version, "TLSv1.2");
}

TEST_F(TlsContextTest, OverridesPresetProtocolOptions) {
  // A context handed over with SSL_OP_NO_* options already set (as civetweb
  // did, and asio::ssl::context's options can): min/max must be what counts.
  config_.max_version = TlsVersion::kTls12;
  auto context = TlsContext::Create(config_);
  ASSERT_TRUE(context.ok());
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TLSv1_2);
  ASSERT_TRUE((*context)->Configure(ctx.get()).ok());
  auto result = Handshake(ctx.get(), ClientContext(&ca_).get());
  EXPECT_TRUE(result.server_ok) << result.error;
  EXPECT_EQ(result.version, "TLSv1.2");
}

TEST_F(TlsContextTest, CipherSuitesApplyToTls12) {
  config_.max_version = TlsVersion::kTls12;
  config_.cipher_suites = {*OpenSslCipherName("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")};
  auto server = ServerContext();
  auto result = Handshake(server.get(), ClientContext(&ca_).get());
  EXPECT_TRUE(result.server_ok) << result.error;
  EXPECT_EQ(result.cipher, "ECDHE-ECDSA-AES256-GCM-SHA384");
}

TEST_F(TlsContextTest, RequireAndVerifyClientCert) {
  config_.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  config_.client_ca_file = dir_.File("ca.crt");
  auto server = ServerContext();
  Pki good = MakeClient(&ca_, "prometheus", "DNS:prometheus");
  Pki other_ca = MakeCa("other CA");
  Pki foreign = MakeClient(&other_ca, "intruder", "DNS:prometheus");
  Pki self_signed = MakeClient(nullptr, "self", "DNS:prometheus");
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_, &good).get()).server_ok);
  EXPECT_FALSE(Handshake(server.get(), ClientContext(&ca_).get()).server_ok);
  EXPECT_FALSE(Handshake(server.get(), ClientContext(&ca_, &foreign).get()).server_ok);
  EXPECT_FALSE(Handshake(server.get(), ClientContext(&ca_, &self_signed).get()).server_ok);
  // TLS 1.2 as well (the client certificate comes at a different point).
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_, &good, TLS1_2_VERSION).get()).server_ok);
  EXPECT_FALSE(
      Handshake(server.get(), ClientContext(&ca_, &foreign, TLS1_2_VERSION).get()).server_ok);
}

TEST_F(TlsContextTest, VerifyClientCertIfGiven) {
  config_.client_auth = ClientAuth::kVerifyClientCertIfGiven;
  config_.client_ca_pem = ca_.cert_pem;
  auto server = ServerContext();
  Pki other_ca = MakeCa("other CA");
  Pki foreign = MakeClient(&other_ca, "intruder", "");
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_).get()).server_ok);
  EXPECT_FALSE(Handshake(server.get(), ClientContext(&ca_, &foreign).get()).server_ok);
}

TEST_F(TlsContextTest, RequireAnyClientCertAcceptsUnverifiedButNotNone) {
  config_.client_auth = ClientAuth::kRequireAnyClientCert;
  auto server = ServerContext();
  Pki self_signed = MakeClient(nullptr, "self", "");
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_, &self_signed).get()).server_ok);
  EXPECT_FALSE(Handshake(server.get(), ClientContext(&ca_).get()).server_ok);
}

TEST_F(TlsContextTest, RequestClientCertAcceptsAnythingOrNothing) {
  config_.client_auth = ClientAuth::kRequestClientCert;
  auto server = ServerContext();
  Pki self_signed = MakeClient(nullptr, "self", "");
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_, &self_signed).get()).server_ok);
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_).get()).server_ok);
}

TEST_F(TlsContextTest, ClientAllowedSans) {
  config_.client_auth = ClientAuth::kRequireAndVerifyClientCert;
  config_.client_ca_file = dir_.File("ca.crt");
  config_.client_allowed_sans = {"prometheus.monitoring.svc", "10.0.0.7"};
  auto server = ServerContext();
  Pki by_dns = MakeClient(&ca_, "a", "DNS:prometheus.monitoring.svc");
  Pki by_ip = MakeClient(&ca_, "b", "IP:10.0.0.7");
  Pki other = MakeClient(&ca_, "c", "DNS:grafana.monitoring.svc,IP:10.0.0.8");
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_, &by_dns).get()).server_ok);
  EXPECT_TRUE(Handshake(server.get(), ClientContext(&ca_, &by_ip).get()).server_ok);
  EXPECT_FALSE(Handshake(server.get(), ClientContext(&ca_, &other).get()).server_ok);
}

TEST_F(TlsContextTest, ReloadsChangedFilesAndKeepsTheOldPairWhenTheNewOneIsBroken) {
  auto server = ServerContext();
  EXPECT_EQ(Handshake(server.get(), ClientContext(&ca_).get()).server_cert_cn, "exporter");

  Pki renewed = MakeServer(ca_, "exporter-renewed");
  WriteFile(dir_.File("server.crt"), renewed.cert_pem);
  WriteFile(dir_.File("server.key"), renewed.key_pem);
  context_->CheckFilesOnNextHandshake();
  auto result = Handshake(server.get(), ClientContext(&ca_).get());
  EXPECT_TRUE(result.server_ok) << result.error;
  EXPECT_EQ(result.server_cert_cn, "exporter-renewed");
  EXPECT_EQ(context_->reloads(), 1u);

  // Half-way through a rotation: a new certificate with the old key.
  Pki next = MakeServer(ca_, "exporter-next");
  WriteFile(dir_.File("server.crt"), next.cert_pem);
  context_->CheckFilesOnNextHandshake();
  result = Handshake(server.get(), ClientContext(&ca_).get());
  EXPECT_TRUE(result.server_ok) << result.error;
  EXPECT_EQ(result.server_cert_cn, "exporter-renewed");
  EXPECT_EQ(context_->reloads(), 1u);

  // The key arrives: the next check picks the pair up.
  WriteFile(dir_.File("server.key"), next.key_pem);
  context_->CheckFilesOnNextHandshake();
  EXPECT_EQ(Handshake(server.get(), ClientContext(&ca_).get()).server_cert_cn, "exporter-next");
  EXPECT_EQ(context_->reloads(), 2u);
}

TEST_F(TlsContextTest, NoReloadWithoutChange) {
  auto server = ServerContext();
  context_->CheckFilesOnNextHandshake();
  Handshake(server.get(), ClientContext(&ca_).get());
  EXPECT_EQ(context_->reloads(), 0u);
}

TEST_F(TlsContextTest, CertificateChainIsSent) {
  // Leaf signed by an intermediate; the client trusts only the root.
  Pki intermediate = testing::MakeCert(
      "intermediate", &ca_,
      {{"basicConstraints", "critical,CA:TRUE"}, {"keyUsage", "critical,keyCertSign"}});
  Pki leaf = MakeServer(intermediate, "leaf");
  WriteFile(dir_.File("chain.crt"), leaf.cert_pem + intermediate.cert_pem);
  WriteFile(dir_.File("leaf.key"), leaf.key_pem);
  config_.cert_file = dir_.File("chain.crt");
  config_.key_file = dir_.File("leaf.key");
  auto server = ServerContext();
  auto result = Handshake(server.get(), ClientContext(&ca_).get());
  EXPECT_TRUE(result.client_ok) << result.error;
  EXPECT_EQ(result.server_cert_cn, "leaf");
}

TEST(TlsNames, GoCipherAndCurveNames) {
  EXPECT_EQ(OpenSslCipherName("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "ECDHE-RSA-AES128-GCM-SHA256");
  EXPECT_EQ(OpenSslCipherName("TLS_AES_128_GCM_SHA256"), "");                 // TLS 1.3: fixed
  EXPECT_EQ(OpenSslCipherName("TLS_RSA_WITH_RC4_128_SHA"), std::nullopt);     // insecure
  EXPECT_EQ(OpenSslCipherName("ECDHE-RSA-AES128-GCM-SHA256"), std::nullopt);  // OpenSSL name
  EXPECT_EQ(OpenSslGroupName("CurveP256"), "P-256");
  EXPECT_EQ(OpenSslGroupName("X25519"), "X25519");
  EXPECT_EQ(OpenSslGroupName("P-256"), std::nullopt);
}

}  // namespace
}  // namespace tcpstate
