// The HTTP endpoint: /metrics, or web.telemetry_path (the exposition prepared
// once per poll, written as is; gzip-compressed when the client accepts it), /healthz (alive),
// /readyz (a recent successful poll), the drill-down pages /close_wait and
// /time_wait, and a landing page with the latest poll's summary.
//
// Optional hardening from the web configuration file (web_config.h): TLS,
// basic auth, extra response headers, a rate limit. /healthz and /readyz are
// exempt from basic auth, the rate limit and the in-flight cap (they reveal
// nothing and kubelet probes cannot easily send credentials; an overloaded
// exporter must not be restarted by its liveness probe); over TLS they are
// served over TLS like everything else.
//
// Event-driven (Boost.Beast over Boost.Asio, docs/http.md): two I/O threads
// serve every connection; an open connection costs a few KiB of memory, not a
// thread, so thousands of idle or trickling clients do not delay a scrape
// (docs/benchmarks.md, "HTTP endpoint under load").
// Limits (Config::Web):
//   * request_timeout: one deadline from accept for the TLS handshake and the
//     request headers together (a total, not per read), and again for sending
//     the response. A connection that has not sent its request by then is
//     closed. A kept-alive connection must send its next request within
//     min(500 ms, request_timeout).
//   * max_connections: connections open at once (lowered to fit
//     RLIMIT_NOFILE). When a new connection arrives at the limit, the one that
//     has waited longest for its request (TLS handshake, request headers, or
//     idle between two requests of a kept connection) is closed to make room;
//     connections being answered are never closed for room. Only when every
//     connection is being answered do new ones wait in the accept queue.
//   * max_requests_in_flight: requests being authenticated (bcrypt; the
//     authenticator's queue) and answered (until the response is queued for
//     writing); beyond it, 503 with Retry-After at once.
// bcrypt checks run on a small worker pool, never on the I/O threads.
//
// Thread-safety: Start, Stop and the destructor must not race each other;
// UpdateWebConfig and Port may be called from any thread while serving.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"
#include "http/web_config.h"

namespace tcpstate {

class BasicAuthenticator;
class ExpositionSource;
class PageSource;
class TlsContext;

class HttpServer {
 public:
  // Answers /readyz: true once data is fresh enough to scrape.
  using ReadinessProbe = std::function<bool()>;

  // /metrics serves what `metrics` last prepared (metrics/exposition.h);
  // /close_wait, /time_wait and the landing page's summary come from `pages`
  // (metrics/page_source.h; null: none), behind the same TLS, basic auth,
  // rate limit and in-flight cap as /metrics.
  HttpServer(std::shared_ptr<const ExpositionSource> metrics, ReadinessProbe ready,
             std::shared_ptr<const PageSource> pages = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds every address of ListenAddresses(web) and starts serving; fails
  // (address in use, bad address, TLS not usable) with a message that names
  // the address. Without a web configuration: plain HTTP, no authentication.
  Status Start(const Config::Web& web, const WebConfig& web_config = WebConfig());
  // Closes the listeners and every connection; returns when the threads are
  // joined. Idempotent.
  void Stop();

  // The port served on (the first address's, if several): tests listen on 0.
  int Port() const;

  // A reloaded web configuration (SIGHUP): users, headers and rate limit take
  // effect for the next request. Turning TLS on or off, or changing its
  // settings, needs a restart (logged); the certificate, key and client CA
  // files are re-read when they change, without a reload.
  Status UpdateWebConfig(const WebConfig& web_config);

  // Connections open right now (tests, benchmarks).
  size_t open_connections() const;

  // max_connections, lowered to what RLIMIT_NOFILE leaves after 512
  // descriptors kept for the rest of the exporter.
  static size_t EffectiveMaxConnections(uint32_t configured);

  // What the endpoint listens on: web.listen_addresses, or listen_address
  // when that list is empty.
  static std::vector<std::string> ListenAddresses(const Config::Web& web);

 private:
  struct Security;  // what UpdateWebConfig swaps
  struct Runtime;   // io_context, listeners, threads (Boost kept out of this header)
  template <class Stream>
  class Session;
  class TlsPending;  // a TLS connection before its first byte

  Result<std::shared_ptr<const Security>> MakeSecurity(const WebConfig& web_config) const;
  std::shared_ptr<const Security> security() const;

  std::shared_ptr<const ExpositionSource> metrics_;
  ReadinessProbe ready_;
  std::shared_ptr<const PageSource> pages_;
  uint32_t max_in_flight_ = 1;
  std::string telemetry_path_ = kDefaultTelemetryPath;  // set by Start, before serving
  std::atomic<uint32_t> in_flight_{0};
  bool tls_enabled_ = false;
  WebConfig started_web_config_;

  mutable std::mutex security_mu_;
  std::shared_ptr<const Security> security_;
  std::unique_ptr<TlsContext> tls_;

  std::unique_ptr<Runtime> runtime_;
};

}  // namespace tcpstate
