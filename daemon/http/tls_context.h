// TLS for the HTTP server: builds the OpenSSL settings of a TlsServerConfig
// and applies them to the SSL_CTX civetweb creates (its init_ssl callback).
//
// civetweb itself only knows one PEM file with certificate and key together
// and a numeric protocol level; this sets everything through OpenSSL instead:
// separate (or inline) certificate and key, min/max version, TLS <= 1.2
// cipher suites, curves, client certificates (exporter-toolkit's five
// client_auth_type policies, client CA, allowed SANs).
//
// Certificate, key and client CA are taken per handshake from the files'
// latest good contents: a handshake re-checks the files (stat, at most once a
// second) and reloads them when they changed, so a renewed certificate is
// served without a restart. A half-written pair (new certificate, old key)
// is rejected and the previous pair kept until the files are consistent.
//
// Slow handshakes: civetweb gives a TLS handshake about request_timeout and
// then, separately, request_timeout again for the request headers. A
// handshake that took longer than the handshake budget (request_timeout / 2
// in the server) has its connection shut down as soon as it completes, so a
// client trickling both holds a server thread for at most 1.5 x
// request_timeout instead of 2 x.
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
  // handshake_budget 0: no limit beyond civetweb's.
  static Result<std::unique_ptr<TlsContext>> Create(
      const TlsServerConfig& config,
      std::chrono::milliseconds handshake_budget = std::chrono::milliseconds(0));
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Applies the settings to ctx. The TlsContext must outlive ctx's handshakes.
  Status Configure(ssl_ctx_st* ctx);

  // Successful reloads of changed files so far.
  uint64_t reloads() const { return reloads_.load(); }
  // Connections shut down after a handshake slower than the budget.
  uint64_t slow_handshakes() const { return slow_handshakes_.load(); }
  // Tests: make the next handshake look at the files whatever the time.
  void CheckFilesOnNextHandshake();

 private:
  TlsContext(const TlsServerConfig& config, std::chrono::milliseconds handshake_budget)
      : config_(config), handshake_budget_(handshake_budget) {}
  std::shared_ptr<const TlsMaterial> Current();
  static int CertCallback(ssl_st* ssl, void* arg);
  static int VerifyCallback(x509_store_ctx_st* store, void* arg);
  static void InfoCallback(const ssl_st* ssl, int where, int ret);

  const TlsServerConfig config_;
  const std::chrono::milliseconds handshake_budget_;
  std::mutex mu_;
  std::shared_ptr<const TlsMaterial> material_;
  std::string stamp_;  // of the files material_ came from (or last failed to)
  std::chrono::steady_clock::time_point next_check_;
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> slow_handshakes_{0};
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
