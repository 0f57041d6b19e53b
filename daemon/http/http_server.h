// The HTTP endpoint: /metrics (the exposition prepared once per poll, written
// as is; gzip-compressed when the client accepts it), /healthz (alive),
// /readyz (a recent successful poll), and a landing page.
//
// Optional hardening from the web configuration file (web_config.h): TLS,
// basic auth, extra response headers, a rate limit. /healthz and /readyz are
// exempt from basic auth, the rate limit and the in-flight cap (they reveal
// nothing and kubelet probes cannot easily send credentials; an overloaded
// exporter must not be restarted by its liveness probe); over TLS they are
// served over TLS like everything else.
//
// Limits (Config::Web): max_connections server threads (a thread is held
// from accept to the end of the response, including a TLS handshake and a
// client still sending its request); request_timeout bounds the TLS handshake,
// the request headers (a total deadline from the end of the handshake, not
// per read) and any stall while sending the response, and a handshake slower
// than half of it loses its connection when done, so a slow client holds a
// thread for at most request_timeout (plain HTTP) or 1.5 x request_timeout
// (TLS); max_requests_in_flight bounds requests being authenticated (bcrypt)
// and answered, beyond which requests get 503 at once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/result.h"
#include "config/config.h"
#include "http/web_config.h"

class CivetServer;
struct mg_connection;

namespace tcpstate {

class BasicAuthenticator;
class SnapshotCollectable;
class TlsContext;

class HttpServer {
 public:
  // Answers /readyz: true once data is fresh enough to scrape.
  using ReadinessProbe = std::function<bool()>;

  // /metrics serves what `metrics` last prepared.
  HttpServer(std::shared_ptr<const SnapshotCollectable> metrics, ReadinessProbe ready);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; fails (address in use, bad address, TLS not
  // usable) with a message that names the address. Without a web
  // configuration: plain HTTP, no authentication.
  Status Start(const Config::Web& web, const WebConfig& web_config = WebConfig());
  void Stop();

  // The port served on (the first, if several): tests listen on port 0.
  int Port() const;

  // A reloaded web configuration (SIGHUP): users, headers and rate limit take
  // effect for the next request. Turning TLS on or off, or changing its
  // settings, needs a restart (logged); the certificate, key and client CA
  // files are re-read when they change, without a reload.
  Status UpdateWebConfig(const WebConfig& web_config);

  // The civetweb "listening_ports" value for a listen address.
  static std::string CivetListeningPorts(const std::string& listen_address, bool tls = false);

 private:
  class Handler;
  struct Security;  // what UpdateWebConfig swaps
  Result<std::shared_ptr<const Security>> MakeSecurity(const WebConfig& web_config) const;
  std::shared_ptr<const Security> security() const;
  static int InitSsl(void* ssl_ctx, void* user_data);
  static int LogMessage(const mg_connection* conn, const char* message);

  std::shared_ptr<const SnapshotCollectable> metrics_;
  ReadinessProbe ready_;
  uint32_t max_in_flight_ = 1;
  std::atomic<uint32_t> in_flight_{0};
  bool tls_enabled_ = false;
  WebConfig started_web_config_;

  mutable std::mutex security_mu_;
  std::shared_ptr<const Security> security_;
  std::unique_ptr<TlsContext> tls_;

  std::mutex log_mu_;
  std::string last_civetweb_message_;

  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer> server_;
};

}  // namespace tcpstate
