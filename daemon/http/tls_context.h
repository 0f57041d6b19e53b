// TLS for the HTTP server: builds the OpenSSL settings of a TlsServerConfig
// and applies them to the server's SSL_CTX (asio::ssl::context): separate (or
// inline) certificate and key, min/max version, TLS <= 1.2 cipher suites,
// curves, client certificates (exporter-toolkit's five client_auth_type
// policies, client CA, allowed SANs).
//
// Certificate, key and client CA are taken per handshake from the files'
// latest good contents: a handshake re-checks the files (stat, at most once a
// second) and reloads them when they changed, so a renewed certificate is
// served without a restart. A half-written pair (new certificate, old key)
// is rejected and the previous pair kept until the files are consistent.
//
// Slow handshakes are the server's business: one deadline from accept covers
// the handshake and the request headers together (http_server.h).
//
// Thread-safety: Configure is called for each new connection from HTTP
// worker threads while a reload may swap the files; guarded inside.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/web_config.h"

struct ssl_ctx_st;
struct ssl_st;
struct x509_store_ctx_st;

namespace tcpstate {

struct TlsMaterial;  // certificate chain, key, client CAs (OpenSSL objects)

class TlsContext {
 public:
  // Loads and checks the certificate, key and client CA; errors name the key
  // of the web configuration file ("tls_server_config.key_file: ...").
  static Result<std::unique_ptr<TlsContext>> Create(const TlsServerConfig& config);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Applies the settings to ctx. The TlsContext must outlive ctx's handshakes.
  Status Configure(ssl_ctx_st* ctx);

  // Successful reloads of changed files so far.
  uint64_t reloads() const { return reloads_.load(); }
  // Tests: make the next handshake look at the files whatever the time.
  void CheckFilesOnNextHandshake();

 private:
  explicit TlsContext(const TlsServerConfig& config) : config_(config) {}
  std::shared_ptr<const TlsMaterial> Current();
  static int CertCallback(ssl_st* ssl, void* arg);
  static int VerifyCallback(x509_store_ctx_st* store, void* arg);

  const TlsServerConfig config_;
  std::mutex mu_;
  std::shared_ptr<const TlsMaterial> material_;
  std::string stamp_;  // of the files material_ came from (or last failed to)
  std::chrono::steady_clock::time_point next_check_;
  std::atomic<uint64_t> reloads_{0};
};

// Checks a TlsServerConfig completely (files, PEM, key match, and that
// OpenSSL accepts every setting) without serving.
Status ValidateTlsServerConfig(const TlsServerConfig& config);

// Go / IANA cipher suite name -> OpenSSL name; "" for the TLS 1.3 suites
// (accepted, not configurable); nullopt when Go's crypto/tls does not offer it.
std::optional<std::string> OpenSslCipherName(std::string_view go_name);

// Go curve name (CurveP256, CurveP384, CurveP521, X25519) -> OpenSSL group
// name; nullopt for others.
std::optional<std::string> OpenSslGroupName(std::string_view go_name);

}  // namespace tcpstate
