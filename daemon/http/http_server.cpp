#include "http/http_server.h"

#include <CivetServer.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string_view>
#include <vector>

#include "http/basic_auth.h"
#include "http/civetweb_openssl.h"
#include "http/request_headers.h"
#include "http/tls_context.h"
#include "metrics/build_info.h"
#include "metrics/snapshot_collectable.h"

namespace tcpstate {
namespace {

constexpr const char* kRealm = "tcpstate_exporter";
// How long a kept connection may wait for its next request (civetweb's default).
constexpr std::chrono::milliseconds kKeepAliveTimeout{500};

constexpr const char* kLandingPage = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tcpstate_exporter</title></head>
<body>
<h1>tcpstate_exporter</h1>
<p>TCP sockets per state, port and process, from NETLINK_SOCK_DIAG.</p>
<ul>
<li><a href="/metrics">/metrics</a>: the metrics</li>
<li><a href="/healthz">/healthz</a>: liveness</li>
<li><a href="/readyz">/readyz</a>: readiness (a recent successful poll)</li>
</ul>
<p>Version %s (%s)</p>
</body></html>
)";

using Headers = std::vector<std::pair<std::string, std::string>>;

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 429:
      return "Too Many Requests";
    default:
      return "Service Unavailable";
  }
}

// civetweb's rule for keeping a connection open after a response: what the
// client's Connection header says, else the HTTP version's default.
bool ClientKeepsAlive(const mg_connection* conn) {
  if (const char* connection = mg_get_header(conn, "Connection")) {
    return HasToken(connection, "keep-alive");
  }
  const char* version = mg_get_request_info(conn)->http_version;
  return version != nullptr && std::strcmp(version, "1.1") == 0;
}

// The body is written straight from the caller's buffer (for /metrics, the
// shared exposition): no copy, no lock held. Only successful requests keep
// their connection: a refused client (401, 429, 503) must not hold a thread.
void Reply(mg_connection* conn, int status, const char* content_type, std::string_view body,
           const Headers& extra, bool head_only) {
  const bool keep_alive = status == 200 && ClientKeepsAlive(conn);
  if (!keep_alive) mg_disable_connection_keep_alive(conn);
  std::string head =
      "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) +
      "\r\nContent-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nCache-Control: no-store\r\nConnection: " + (keep_alive ? "keep-alive" : "close") +
      "\r\n";
  for (const auto& [name, value] : extra) head += name + ": " + value + "\r\n";
  head += "\r\n";
  mg_write(conn, head.data(), head.size());
  if (!head_only) mg_write(conn, body.data(), body.size());
}

// /metrics before the first poll published: an empty body.
std::shared_ptr<const Exposition> NothingPublished() {
  static const auto empty = std::make_shared<const Exposition>();
  return empty;
}

// Token bucket: one token per interval, at most burst saved.
class RateLimiter {
 public:
  RateLimiter(std::chrono::milliseconds interval, uint32_t burst)
      : interval_(std::chrono::duration<double>(interval).count()),
        burst_(burst),
        tokens_(burst),
        last_(std::chrono::steady_clock::now()) {}

  bool Allow() {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    tokens_ = std::min<double>(
        burst_, tokens_ + std::chrono::duration<double>(now - last_).count() / interval_);
    last_ = now;
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  std::mutex mu_;
  const double interval_;
  const double burst_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

// Holds one of the in-flight slots, or none when the cap is reached.
class InFlightSlot {
 public:
  InFlightSlot(std::atomic<uint32_t>& counter, uint32_t cap) : counter_(counter) {
    acquired_ = counter_.fetch_add(1) < cap;
    if (!acquired_) counter_.fetch_sub(1);
  }
  ~InFlightSlot() {
    if (acquired_) counter_.fetch_sub(1);
  }
  InFlightSlot(const InFlightSlot&) = delete;
  InFlightSlot& operator=(const InFlightSlot&) = delete;
  bool acquired() const { return acquired_; }

 private:
  std::atomic<uint32_t>& counter_;
  bool acquired_ = false;
};

}  // namespace

struct HttpServer::Security {
  std::shared_ptr<BasicAuthenticator> auth;  // null: no basic auth
  std::shared_ptr<RateLimiter> limiter;      // null: no rate limit
  Headers headers;                           // added to every response
};

class HttpServer::Handler : public CivetHandler {
 public:
  explicit Handler(HttpServer& owner) : owner_(owner) {}

  bool handleGet(CivetServer*, mg_connection* conn) override { return Serve(conn, false); }
  bool handleHead(CivetServer*, mg_connection* conn) override { return Serve(conn, true); }

 private:
  bool Serve(mg_connection* conn, bool head_only) {
    const mg_request_info* info = mg_get_request_info(conn);
    const std::string uri = info->local_uri ? info->local_uri : "/";
    const auto security = owner_.security();
    const Headers& headers = security->headers;
    auto reply = [&](int status, const char* type, std::string_view body, Headers extra = {}) {
      extra.insert(extra.end(), headers.begin(), headers.end());
      Reply(conn, status, type, body, extra, head_only);
      return true;
    };
    constexpr const char* kText = "text/plain; charset=utf-8";

    // Probes: no auth, no rate limit, no cap.
    if (uri == "/healthz") return reply(200, kText, "ok\n");
    if (uri == "/readyz") {
      const bool ready = owner_.ready_ && owner_.ready_();
      return reply(ready ? 200 : 503, kText, ready ? "ready\n" : "no recent successful poll\n");
    }

    if (security->limiter && !security->limiter->Allow()) {
      return reply(429, kText, "too many requests\n", {{"Retry-After", "1"}});
    }
    if (security->auth) {
      const char* authorization = mg_get_header(conn, "Authorization");
      switch (security->auth->Check(authorization ? authorization : "")) {
        case BasicAuthenticator::Outcome::kAllowed:
          break;
        case BasicAuthenticator::Outcome::kBusy:
          return reply(503, kText, "too many requests in flight\n", {{"Retry-After", "1"}});
        case BasicAuthenticator::Outcome::kDenied:
          spdlog::debug("HTTP basic auth failed for {} from {}", uri, info->remote_addr);
          return reply(401, kText, "unauthorized\n",
                       {{"WWW-Authenticate", std::string("Basic realm=\"") + kRealm + "\""}});
      }
    }
    InFlightSlot slot(owner_.in_flight_, owner_.max_in_flight_);
    if (!slot.acquired()) {
      return reply(503, kText, "too many requests in flight\n", {{"Retry-After", "1"}});
    }

    if (uri == "/metrics") {
      // Held until the body is written, even if a poll publishes meanwhile.
      auto exposition = owner_.metrics_->Prepared();
      if (!exposition) exposition = NothingPublished();
      const char* accept_encoding = mg_get_header(conn, "Accept-Encoding");
      const bool gzip =
          !exposition->gzip.empty() && AcceptsGzip(accept_encoding ? accept_encoding : "");
      Headers extra = {{"Vary", "Accept-Encoding"}};
      if (gzip) extra.emplace_back("Content-Encoding", "gzip");
      return reply(200, "text/plain; version=0.0.4; charset=utf-8",
                   gzip ? exposition->gzip : exposition->text, std::move(extra));
    }
    if (uri == "/") {
      const BuildInfo& build = GetBuildInfo();
      char page[2048];
      std::snprintf(page, sizeof(page), kLandingPage, build.version, build.revision);
      return reply(200, "text/html; charset=utf-8", page);
    }
    return reply(404, kText, "not found\n");
  }

  HttpServer& owner_;
};

HttpServer::HttpServer(std::shared_ptr<const SnapshotCollectable> metrics, ReadinessProbe ready)
    : metrics_(std::move(metrics)),
      ready_(std::move(ready)),
      security_(std::make_shared<Security>()) {}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::CivetListeningPorts(const std::string& listen_address, bool tls) {
  std::string ports = listen_address;
  // ":9930" means every address: "+9930" is civetweb's IPv4-and-IPv6 form.
  if (!listen_address.empty() && listen_address[0] == ':') {
    const bool ipv6 = mg_check_feature(8) != 0;
    ports = (ipv6 ? "+" : "") + listen_address.substr(1);
  }
  return tls ? ports + "s" : ports;  // "s": civetweb's TLS port suffix
}

std::shared_ptr<const HttpServer::Security> HttpServer::security() const {
  std::lock_guard lock(security_mu_);
  return security_;
}

Result<std::shared_ptr<const HttpServer::Security>> HttpServer::MakeSecurity(
    const WebConfig& web_config) const {
  auto security = std::make_shared<Security>();
  if (!web_config.basic_auth_users.empty()) {
    auto auth = BasicAuthenticator::Create(web_config.basic_auth_users,
                                           BasicAuthenticator::Options{max_in_flight_});
    if (!auth.ok()) return Error{EINVAL, "basic_auth_users: " + auth.error().message};
    security->auth = std::move(*auth);
  }
  if (web_config.rate_limit_interval.count() > 0) {
    security->limiter =
        std::make_shared<RateLimiter>(web_config.rate_limit_interval, web_config.rate_limit_burst);
  }
  security->headers = web_config.headers;
  return std::shared_ptr<const Security>(std::move(security));
}

int HttpServer::InitSsl(void* ssl_ctx, void* user_data) {
  auto* self = static_cast<HttpServer*>(
      const_cast<void*>(static_cast<CivetServer*>(user_data)->getUserContext()));
  auto configured = self->tls_->Configure(static_cast<ssl_ctx_st*>(ssl_ctx));
  if (!configured.ok()) {
    spdlog::error("TLS setup failed: {}", configured.error().message);
    return -1;
  }
  return 1;  // the context is complete: civetweb loads no certificate itself
}

int HttpServer::LogMessage(const mg_connection* conn, const char* message) {
  spdlog::debug("civetweb: {}", message);
  if (conn == nullptr) return 1;
  auto* civet = static_cast<CivetServer*>(mg_get_user_data(mg_get_context(conn)));
  if (civet == nullptr) return 1;
  auto* self = static_cast<HttpServer*>(const_cast<void*>(civet->getUserContext()));
  if (self != nullptr) {
    std::lock_guard lock(self->log_mu_);
    self->last_civetweb_message_ = message;
  }
  return 1;
}

Status HttpServer::Start(const Config::Web& web, const WebConfig& web_config) {
  max_in_flight_ = std::max<uint32_t>(1, std::min(web.max_requests_in_flight, web.max_connections));
  tls_enabled_ = web_config.tls_enabled;
  started_web_config_ = web_config;
  auto security = MakeSecurity(web_config);
  if (!security.ok()) return security.error();
  {
    std::lock_guard lock(security_mu_);
    security_ = std::move(*security);
  }
  if (tls_enabled_) {
    if (auto ok = EnableCivetwebTls(); !ok.ok()) {
      return Error{ENOTSUP,
                   "cannot serve TLS on " + web.listen_address + ": " + ok.error().message};
    }
    // A handshake slower than half the request timeout loses its connection
    // once done: handshake + headers hold a thread for 1.5 x, not 2 x, the
    // request timeout (tls_context.h).
    auto tls = TlsContext::Create(web_config.tls, web.request_timeout / 2);
    if (!tls.ok()) return tls.error();
    tls_ = std::move(*tls);
  }

  const std::vector<std::pair<const char*, std::string>> settings = {
      {"listening_ports", CivetListeningPorts(web.listen_address, tls_enabled_)},
      {"num_threads", std::to_string(web.max_connections)},
      {"request_timeout_ms", std::to_string(web.request_timeout.count())},
      // Keep-alive, as Prometheus uses it; the next request's headers must
      // arrive within kKeepAliveTimeout (a total, measured), so a kept
      // connection holds its thread no longer than a new one would.
      {"enable_keep_alive", "yes"},
      {"keep_alive_timeout_ms",
       std::to_string(std::min(kKeepAliveTimeout, web.request_timeout).count())},
      // Headers and body are two writes: with Nagle's algorithm, a body
      // shorter than a segment waits for the client's delayed ACK of the
      // headers (40 ms on Linux) on a kept connection.
      {"tcp_nodelay", "1"},
  };
  std::vector<std::string> options;
  for (const auto& [name, value] : settings) {
    options.push_back(name);
    options.push_back(value);
  }
  CivetCallbacks callbacks;  // zeroed by its constructor
  callbacks.log_message = LogMessage;
  if (tls_enabled_) callbacks.init_ssl = InitSsl;
  try {
    server_ = std::make_unique<CivetServer>(options, &callbacks, this);
  } catch (const CivetException& e) {
    std::string detail;
    {
      std::lock_guard lock(log_mu_);
      detail = last_civetweb_message_;
    }
    return Error{EADDRINUSE, "cannot listen on " + web.listen_address +
                                 (tls_enabled_ ? " with TLS" : "") +
                                 " (address in use, or not an address of this host): " +
                                 (detail.empty() ? e.what() : detail)};
  }
  handler_ = std::make_unique<Handler>(*this);
  server_->addHandler("/", handler_.get());
  spdlog::info("HTTP endpoint: {}{}, basic auth {}", tls_enabled_ ? "TLS " : "plain HTTP",
               tls_enabled_ ? std::string(TlsVersionName(web_config.tls.min_version)) + "+" : "",
               web_config.basic_auth_users.empty()
                   ? std::string("off")
                   : "on (" + std::to_string(web_config.basic_auth_users.size()) + " users)");
  return OkStatus();
}

Status HttpServer::UpdateWebConfig(const WebConfig& web_config) {
  auto security = MakeSecurity(web_config);
  if (!security.ok()) return security.error();
  if (web_config.tls_enabled != tls_enabled_) {
    spdlog::warn("web config {}: turning TLS {} needs a restart; still serving {}", web_config.path,
                 web_config.tls_enabled ? "on" : "off", tls_enabled_ ? "TLS" : "plain HTTP");
  } else if (tls_enabled_) {
    const TlsServerConfig& a = started_web_config_.tls;
    const TlsServerConfig& b = web_config.tls;
    const bool same =
        a.cert_file == b.cert_file && a.cert_pem == b.cert_pem && a.key_file == b.key_file &&
        a.key_pem == b.key_pem && a.client_ca_file == b.client_ca_file &&
        a.client_ca_pem == b.client_ca_pem && a.client_auth == b.client_auth &&
        a.client_allowed_sans == b.client_allowed_sans && a.min_version == b.min_version &&
        a.max_version == b.max_version && a.cipher_suites == b.cipher_suites &&
        a.prefer_server_cipher_suites == b.prefer_server_cipher_suites &&
        a.curve_groups == b.curve_groups;
    if (!same) {
      spdlog::warn(
          "web config {}: tls_server_config changes need a restart (the files it "
          "names are re-read when they change)",
          web_config.path);
    }
  }
  std::lock_guard lock(security_mu_);
  security_ = std::move(*security);
  return OkStatus();
}

int HttpServer::Port() const {
  const auto ports = server_ ? server_->getListeningPorts() : std::vector<int>();
  return ports.empty() ? 0 : ports.front();
}

void HttpServer::Stop() {
  if (server_) {
    server_->close();
    server_.reset();
  }
}

}  // namespace tcpstate
