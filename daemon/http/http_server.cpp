#include "http/http_server.h"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <list>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/html_escape.h"
#include "http/basic_auth.h"
#include "http/listen_address.h"
#include "http/request_headers.h"
#include "http/tls_context.h"
#include "metrics/build_info.h"
#include "metrics/exposition.h"
#include "metrics/page_source.h"

namespace tcpstate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr const char* kRealm = "tcpstate_exporter";
constexpr const char* kText = "text/plain; charset=utf-8";
// How long a kept connection may wait for its next request.
constexpr std::chrono::milliseconds kKeepAliveTimeout{500};
// What a TLS close_notify exchange may take before the socket is closed.
constexpr std::chrono::milliseconds kTlsShutdownTimeout{500};
// Request line and headers; Prometheus sends a few hundred bytes.
constexpr uint32_t kHeaderLimit = 16 * 1024;
// Threads running the event loop. Serving is cheap (the exposition is
// prepared once per poll); two let a TLS handshake run beside a scrape.
constexpr int kIoThreads = 2;
// How often a listener at max_connections with nothing to close, or out of
// file descriptors, looks again.
constexpr std::chrono::milliseconds kAcceptRetry{10};
// File descriptors kept for everything but connections (netlink sockets,
// /proc scans, namespace and pod files, logs): max_connections is lowered to
// RLIMIT_NOFILE minus this when the limit is lower.
constexpr size_t kReservedFds = 512;
// Connections closed to make room but not yet gone: beyond max_connections
// plus these, the listener waits instead of closing more.
constexpr size_t kClosingSlack = 64;

constexpr const char* kLandingHead = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tcpstate_exporter</title>
<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}td.num,th.num{text-align:right}th{background:#eee}</style></head>
<body>
<h1>tcpstate_exporter</h1>
<p>TCP sockets per state, port and process, from NETLINK_SOCK_DIAG.</p>
<ul>
)";

using Headers = std::vector<std::pair<std::string, std::string>>;

// /metrics before the first poll published: an empty body.
std::shared_ptr<const Exposition> NothingPublished() {
  static const auto empty = std::make_shared<const Exposition>();
  return empty;
}

// Token bucket: one token per interval, at most burst saved. Thread-safe.
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

// Connections waiting for a request (in the TLS handshake, sending their
// request, or kept open between two requests), oldest first: at
// max_connections the oldest is closed to make room for a new one, so idle
// or trickling clients can never lock a scraper out. Connections being
// answered are not in the list and are never closed for room. Thread-safe.
class WaitingConnections {
 public:
  class Entry {
   public:
    virtual ~Entry() = default;
    // Closes the connection (from any thread: posts to its strand).
    virtual void Close() = 0;
    virtual std::shared_ptr<Entry> Lock() = 0;

   private:
    friend class WaitingConnections;
    std::optional<std::list<Entry*>::iterator> position_;  // guarded by mu_
  };

  // Appends `entry` unless it is listed already (it keeps its place).
  void Add(Entry& entry) {
    std::lock_guard lock(mu_);
    if (!entry.position_) entry.position_ = list_.insert(list_.end(), &entry);
  }
  void Remove(Entry& entry) {
    std::lock_guard lock(mu_);
    if (entry.position_) {
      list_.erase(*entry.position_);
      entry.position_.reset();
    }
  }
  // Closes the oldest waiting connection; false if none waits.
  bool CloseOldest() {
    std::shared_ptr<Entry> oldest;
    {
      std::lock_guard lock(mu_);
      while (!oldest && !list_.empty()) {
        Entry* entry = list_.front();
        list_.pop_front();
        entry->position_.reset();
        // Null when its destructor is about to run (it waits for mu_).
        oldest = entry->Lock();
      }
    }
    if (!oldest) return false;
    oldest->Close();
    return true;
  }

 private:
  std::mutex mu_;
  std::list<Entry*> list_;
};

// One listening socket and its accept loop (on the io_context's threads).
class Listener {
 public:
  using OnAccept = std::function<void(tcp::socket)>;
  Listener(tcp::acceptor acceptor, std::string address, std::atomic<size_t>& open, size_t max_open,
           WaitingConnections& waiting, OnAccept on_accept)
      : acceptor_(std::move(acceptor)),
        timer_(acceptor_.get_executor()),
        address_(std::move(address)),
        open_(open),
        max_open_(max_open),
        waiting_(waiting),
        on_accept_(std::move(on_accept)) {}

  int port() const {
    beast::error_code ec;
    return acceptor_.local_endpoint(ec).port();
  }

  void Accept() {
    if (open_.load() >= max_open_) {
      // Full: once a new connection is waiting, make room for it.
      return acceptor_.async_wait(tcp::acceptor::wait_read, [this](beast::error_code ec) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) return RetryLater();
        MakeRoomAndAccept();
      });
    }
    AcceptOne();
  }

 private:
  // Closes the connection that has waited longest for its request, then
  // accepts. If every connection is being answered, or too many closes are
  // still under way, the new one waits in the accept queue.
  void MakeRoomAndAccept() {
    if (open_.load() >= max_open_) {
      if (open_.load() >= max_open_ + kClosingSlack || !waiting_.CloseOldest()) {
        return RetryLater();
      }
      Warn("web.max_connections (" + std::to_string(max_open_) +
           ") reached: closing the connections that have waited longest for their request");
    }
    AcceptOne();
  }

  void AcceptOne() {
    acceptor_.async_accept(asio::make_strand(acceptor_.get_executor()),
                           [this](beast::error_code ec, tcp::socket socket) {
                             if (ec == asio::error::operation_aborted) return;
                             if (ec) {
                               // EMFILE, ENFILE, ENOBUFS: the connection stays in
                               // the accept queue; try again shortly.
                               Warn(ec.message() + " (retrying)");
                               return RetryLater();
                             }
                             open_.fetch_add(1);
                             beast::error_code ignored;
                             // Headers and body may be two segments: no Nagle delay.
                             socket.set_option(tcp::no_delay(true), ignored);
                             on_accept_(std::move(socket));
                             Accept();
                           });
  }

  void RetryLater() {
    timer_.expires_after(kAcceptRetry);
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) Accept();
    });
  }

  // At most one warning per 10 s and listener (only its accept loop calls
  // this, one handler at a time).
  void Warn(const std::string& what) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_warning_ < std::chrono::seconds(10)) return;
    last_warning_ = now;
    spdlog::warn("accepting on {}: {}", address_, what);
  }

  tcp::acceptor acceptor_;
  asio::steady_timer timer_;
  const std::string address_;
  std::atomic<size_t>& open_;
  const size_t max_open_;
  WaitingConnections& waiting_;
  OnAccept on_accept_;
  std::chrono::steady_clock::time_point last_warning_;
};

struct HttpServer::Runtime {
  explicit Runtime(const Config::Web& web)
      : request_timeout(web.request_timeout),
        keep_alive_timeout(std::min(kKeepAliveTimeout, web.request_timeout)),
        max_connections(HttpServer::EffectiveMaxConnections(web.max_connections)) {}

  const std::chrono::milliseconds request_timeout;
  const std::chrono::milliseconds keep_alive_timeout;
  const size_t max_connections;
  std::atomic<size_t> open{0};
  WaitingConnections waiting;

  // Destroyed in Stop(), in this order: listeners, workers, io_context.
  std::unique_ptr<asio::io_context> ioc = std::make_unique<asio::io_context>(kIoThreads);
  std::optional<asio::ssl::context> ssl;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::unique_ptr<asio::thread_pool> workers;  // bcrypt checks
  std::vector<std::thread> threads;
};

// One connection, from accept to close. Every handler runs on the
// connection's strand; bcrypt checks run on the worker pool and post back.
template <class Stream>
class HttpServer::Session : public WaitingConnections::Entry,
                            public std::enable_shared_from_this<HttpServer::Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

 public:
  template <class... Args>
  Session(HttpServer& server, Runtime& runtime, Args&&... args)
      : server_(server), runtime_(runtime), stream_(std::forward<Args>(args)...) {}
  ~Session() override {
    runtime_.waiting.Remove(*this);
    runtime_.open.fetch_sub(1);
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // WaitingConnections::Entry: closed to make room for a new connection.
  void Close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->Tcp().close(); });
  }
  std::shared_ptr<WaitingConnections::Entry> Lock() override {
    return this->weak_from_this().lock();
  }

  // `deadline`: for the TLS handshake and the request headers together, from
  // accept.
  void Start(std::chrono::steady_clock::time_point deadline) {
    // Waiting for its request from accept (or, over TLS, from its first byte).
    runtime_.waiting.Add(*this);
    Tcp().expires_at(deadline);
    if constexpr (kTls) {
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return;  // closed with the session
                                self->ReadRequest();
                              });
    } else {
      ReadRequest();
    }
  }

 private:
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void ReadRequest() {
    // A kept connection waits again, now as the newest.
    runtime_.waiting.Add(*this);
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    // Being answered (or closing): never closed to make room.
    runtime_.waiting.Remove(*this);
    if (ec) {
      // A request that does not parse gets 400; a deadline, an EOF or a
      // reset just closes.
      if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message) {
        keep_alive_client_ = false;
        head_only_ = false;
        Reply(400, kText, "bad request\n", {}, *server_.security());
      }
      return;
    }
    const auto& request = parser_->get();
    head_only_ = request.method() == http::verb::head;
    keep_alive_client_ = request.keep_alive();
    const std::string_view target(request.target().data(), request.target().size());
    const size_t question = target.find('?');
    path_ = std::string(target.substr(0, question));
    query_ = question == std::string_view::npos ? std::string()
                                                : std::string(target.substr(question + 1));
    const auto header = [&](http::field field) {
      const auto value = request[field];
      return std::string(value.data(), value.size());
    };
    authorization_ = header(http::field::authorization);
    accept_encoding_ = header(http::field::accept_encoding);
    parser_.reset();

    const auto security = server_.security();
    if (request_method_ok(request.method()) == false) {
      return Reply(405, kText, "method not allowed\n", {{"Allow", "GET, HEAD"}}, *security);
    }
    // Probes: no auth, no rate limit, no cap.
    if (path_ == "/healthz") return Reply(200, kText, "ok\n", {}, *security);
    if (path_ == "/readyz") {
      const bool ready = server_.ready_ && server_.ready_();
      return Reply(ready ? 200 : 503, kText, ready ? "ready\n" : "no recent successful poll\n", {},
                   *security);
    }
    if (security->limiter && !security->limiter->Allow()) {
      return Reply(429, kText, "too many requests\n", {{"Retry-After", "1"}}, *security);
    }
    if (!security->auth) return Answer(*security);
    // bcrypt takes tens of milliseconds: never on an I/O thread.
    asio::post(*runtime_.workers, [self = this->shared_from_this(), security] {
      const auto outcome = security->auth->Check(self->authorization_);
      asio::post(self->stream_.get_executor(),
                 [self, security, outcome] { self->Authorized(outcome, *security); });
    });
  }

  static bool request_method_ok(http::verb method) {
    return method == http::verb::get || method == http::verb::head;
  }

  void Authorized(BasicAuthenticator::Outcome outcome, const Security& security) {
    switch (outcome) {
      case BasicAuthenticator::Outcome::kAllowed:
        return Answer(security);
      case BasicAuthenticator::Outcome::kBusy:
        return Reply(503, kText, "too many requests in flight\n", {{"Retry-After", "1"}}, security);
      case BasicAuthenticator::Outcome::kDenied: {
        beast::error_code ec;
        const auto peer = Tcp().socket().remote_endpoint(ec);
        spdlog::debug("HTTP basic auth failed for {} from {}", path_,
                      ec ? std::string("?") : peer.address().to_string());
        return Reply(401, kText, "unauthorized\n",
                     {{"WWW-Authenticate", std::string("Basic realm=\"") + kRealm + "\""}},
                     security);
      }
    }
  }

  void Answer(const Security& security) {
    slot_ = std::make_unique<InFlightSlot>(server_.in_flight_, server_.max_in_flight_);
    if (!slot_->acquired()) {
      slot_.reset();
      return Reply(503, kText, "too many requests in flight\n", {{"Retry-After", "1"}}, security);
    }
    if (path_ == server_.telemetry_path_) {
      // Held until the body is written, even if a poll publishes meanwhile.
      exposition_ = server_.metrics_->Prepared();
      if (!exposition_) exposition_ = NothingPublished();
      const bool gzip = !exposition_->gzip.empty() && AcceptsGzip(accept_encoding_);
      Headers extra = {{"Vary", "Accept-Encoding"}};
      if (gzip) extra.emplace_back("Content-Encoding", "gzip");
      return Reply(200, "text/plain; version=0.0.4; charset=utf-8",
                   gzip ? exposition_->gzip : exposition_->text, extra, security);
    }
    if (path_ == "/") {
      const BuildInfo& build = GetBuildInfo();
      // Validated printable ASCII (ValidateTelemetryPath), but it may hold & < or ".
      const std::string path = HtmlEscape(server_.telemetry_path_);
      page_ = kLandingHead;
      page_ += "<li><a href=\"" + path + "\">" + path + "</a>: the metrics</li>\n";
      page_ += "<li><a href=\"/healthz\">/healthz</a>: liveness</li>\n";
      page_ += "<li><a href=\"/readyz\">/readyz</a>: readiness (a recent successful poll)</li>\n";
      page_ += "</ul>\n";
      if (server_.pages_) page_ += server_.pages_->LandingSummary();
      page_ += "<p>Version " + HtmlEscape(build.version) + " (" + HtmlEscape(build.revision) +
               ")</p>\n</body></html>\n";
      return Reply(200, "text/html; charset=utf-8", page_, {}, security);
    }
    if (server_.pages_) {
      if (auto page = server_.pages_->RenderPage(path_, query_)) {
        page_ = std::move(page->body);
        return Reply(page->status, page->content_type, page_, {}, security);
      }
    }
    return Reply(404, kText, "not found\n", {}, security);
  }

  // The body is written straight from `body` (for /metrics, the shared
  // exposition; it must outlive the write): no copy. Only successful requests
  // keep their connection: a refused client (401, 429, 503) is closed.
  void Reply(unsigned status, const char* content_type, std::string_view body, const Headers& extra,
             const Security& security) {
    keep_alive_ = status == 200 && keep_alive_client_;
    response_.emplace(static_cast<http::status>(status), 11);
    auto& response = *response_;
    response.set(http::field::content_type, content_type);
    response.set(http::field::cache_control, "no-store");
    response.set(http::field::connection, keep_alive_ ? "keep-alive" : "close");
    for (const auto& [name, value] : extra) response.insert(name, value);
    for (const auto& [name, value] : security.headers) response.insert(name, value);
    response.content_length(body.size());
    if (!head_only_) response.body() = beast::span<const char>(body.data(), body.size());
    // The slot bounds the work of answering, not the client's reading: a
    // queued write costs no CPU, and a completion delayed behind other
    // connections' handshakes must not turn a scraper away with 503.
    slot_.reset();
    // The longest a response may stall.
    Tcp().expires_after(runtime_.request_timeout);
    http::async_write(
        stream_, response,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnWrite(ec); });
  }

  void OnWrite(beast::error_code ec) {
    response_.reset();
    exposition_.reset();
    slot_.reset();
    if (ec) return;
    if (keep_alive_) {
      Tcp().expires_after(runtime_.keep_alive_timeout);
      return ReadRequest();
    }
    if constexpr (kTls) {
      Tcp().expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Tcp().close(); });
    } else {
      beast::error_code ignored;
      Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  HttpServer& server_;
  Runtime& runtime_;
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::optional<http::response<http::span_body<const char>>> response_;
  std::shared_ptr<const Exposition> exposition_;
  std::unique_ptr<InFlightSlot> slot_;
  std::string path_, query_, authorization_, accept_encoding_, page_;
  bool head_only_ = false;
  bool keep_alive_client_ = false;
  bool keep_alive_ = false;
};

// A TLS connection until its first byte arrives: a socket and a timer. The
// TLS state (OpenSSL's SSL and handshake buffers, Asio's record buffers:
// ~90 KiB) is made only then, so idle TLS connections cost what plain ones
// do. Same deadline from accept; closed to make room like any waiting
// connection.
class HttpServer::TlsPending : public WaitingConnections::Entry,
                               public std::enable_shared_from_this<HttpServer::TlsPending> {
 public:
  TlsPending(HttpServer& server, Runtime& runtime, tcp::socket socket)
      : server_(server),
        runtime_(runtime),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        deadline_(std::chrono::steady_clock::now() + runtime.request_timeout) {}
  ~TlsPending() override {
    runtime_.waiting.Remove(*this);
    if (!handed_over_) runtime_.open.fetch_sub(1);
  }
  TlsPending(const TlsPending&) = delete;
  TlsPending& operator=(const TlsPending&) = delete;

  void Close() override {
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->Stop(); });
  }
  std::shared_ptr<WaitingConnections::Entry> Lock() override { return weak_from_this().lock(); }

  void Start() {
    runtime_.waiting.Add(*this);
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Stop();
    });
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->timer_.cancel();
      if (ec || !self->socket_.is_open()) return;
      self->runtime_.waiting.Remove(*self);
      self->handed_over_ = true;  // the session counts the connection from here
      std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
          self->server_, self->runtime_, std::move(self->socket_), *self->runtime_.ssl)
          ->Start(self->deadline_);
    });
  }

 private:
  void Stop() {
    beast::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  HttpServer& server_;
  Runtime& runtime_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  const std::chrono::steady_clock::time_point deadline_;
  bool handed_over_ = false;
};

HttpServer::HttpServer(std::shared_ptr<const ExpositionSource> metrics, ReadinessProbe ready,
                       std::shared_ptr<const PageSource> pages)
    : metrics_(std::move(metrics)),
      ready_(std::move(ready)),
      pages_(std::move(pages)),
      security_(std::make_shared<Security>()) {}

HttpServer::~HttpServer() { Stop(); }

std::vector<std::string> HttpServer::ListenAddresses(const Config::Web& web) {
  if (!web.listen_addresses.empty()) return web.listen_addresses;
  return {web.listen_address};
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
    if (!auth.ok())
      return MakeError(ErrorKind::kInvalid, "basic_auth_users: " + auth.error().message);
    security->auth = std::move(*auth);
  }
  if (web_config.rate_limit_interval.count() > 0) {
    security->limiter =
        std::make_shared<RateLimiter>(web_config.rate_limit_interval, web_config.rate_limit_burst);
  }
  security->headers = web_config.headers;
  return std::shared_ptr<const Security>(std::move(security));
}

namespace {

// A bound, listening acceptor for one address, or why not.
Result<tcp::acceptor> Listen(asio::io_context& ioc, const std::string& address, bool tls) {
  const auto fail = [&](const beast::error_code& ec) {
    return MakeError(ErrorKind::kSystem,
                     "cannot listen on " + address + (tls ? " with TLS" : "") + ": " +
                         ec.message() +
                         (ec.value() == EADDRNOTAVAIL ? " (not an address of this host)" : ""),
                     ec.value());
  };
  auto parsed = ParseListenAddress(address);
  if (!parsed.ok())
    return MakeError(ErrorKind::kInvalid, "cannot listen on " + parsed.error().message);
  tcp::endpoint endpoint;
  std::memcpy(endpoint.data(), &parsed->address, parsed->length);
  endpoint.resize(parsed->length);
  tcp::acceptor acceptor(ioc);
  beast::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail(ec);
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail(ec);
  if (endpoint.protocol() == tcp::v6()) {
    acceptor.set_option(asio::ip::v6_only(!parsed->dual_stack), ec);
    if (ec) return fail(ec);
  }
  acceptor.bind(endpoint, ec);
  if (ec) return fail(ec);
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(ec);
  return acceptor;
}

}  // namespace

Status HttpServer::Start(const Config::Web& web, const WebConfig& web_config) {
  Stop();
  max_in_flight_ = std::max<uint32_t>(1, web.max_requests_in_flight);
  telemetry_path_ = web.telemetry_path;
  tls_enabled_ = web_config.tls_enabled;
  started_web_config_ = web_config;
  auto security = MakeSecurity(web_config);
  if (!security.ok()) return security.error();
  {
    std::lock_guard lock(security_mu_);
    security_ = std::move(*security);
  }
  auto runtime = std::make_unique<Runtime>(web);
  if (runtime->max_connections < web.max_connections) {
    spdlog::warn(
        "web.max_connections {} is more than RLIMIT_NOFILE allows (one descriptor each, {} kept "
        "for the rest): serving at most {} connections",
        web.max_connections, kReservedFds, runtime->max_connections);
  }
  if (tls_enabled_) {
    // The deadline from accept covers the handshake: no separate budget.
    auto tls = TlsContext::Create(web_config.tls);
    if (!tls.ok()) return tls.error();
    tls_ = std::move(*tls);
    runtime->ssl.emplace(asio::ssl::context::tls_server);
    SSL_CTX* ctx = runtime->ssl->native_handle();
    // Idle TLS connections give their read and write buffers back.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (auto configured = tls_->Configure(ctx); !configured.ok()) {
      Error error = configured.error();
      error.message = "TLS setup failed: " + error.message;
      return error;
    }
  }
  for (const std::string& address : ListenAddresses(web)) {
    auto acceptor = Listen(*runtime->ioc, address, tls_enabled_);
    if (!acceptor.ok()) return acceptor.error();
    Runtime& rt = *runtime;
    runtime->listeners.push_back(std::make_unique<Listener>(
        std::move(*acceptor), address, runtime->open, runtime->max_connections, runtime->waiting,
        [this, &rt](tcp::socket socket) {
          if (rt.ssl) {
            std::make_shared<TlsPending>(*this, rt, std::move(socket))->Start();
          } else {
            std::make_shared<Session<beast::tcp_stream>>(*this, rt, std::move(socket))
                ->Start(std::chrono::steady_clock::now() + rt.request_timeout);
          }
        }));
  }
  // Enough workers that a fast check (cached login, busy) never waits behind
  // the at most max_in_flight checks queued for bcrypt.
  runtime->workers =
      std::make_unique<asio::thread_pool>(std::min<uint32_t>(max_in_flight_, 64) + 1);
  for (auto& listener : runtime->listeners) listener->Accept();
  for (int i = 0; i < kIoThreads; ++i) {
    runtime->threads.emplace_back([ioc = runtime->ioc.get()] {
      auto guard = asio::make_work_guard(*ioc);
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("HTTP server: {}", e.what());
        }
      }
    });
  }
  runtime_ = std::move(runtime);
  std::string addresses;
  for (const std::string& address : ListenAddresses(web)) {
    addresses += (addresses.empty() ? "" : ", ") + address;
  }
  spdlog::info("HTTP endpoint on {}: {}{}, basic auth {}", addresses,
               tls_enabled_ ? "TLS " : "plain HTTP",
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
  if (!runtime_ || runtime_->listeners.empty()) return 0;
  return runtime_->listeners.front()->port();
}

size_t HttpServer::open_connections() const { return runtime_ ? runtime_->open.load() : 0; }

size_t HttpServer::EffectiveMaxConnections(uint32_t configured) {
  rlimit nofile{};
  if (getrlimit(RLIMIT_NOFILE, &nofile) != 0 || nofile.rlim_cur == RLIM_INFINITY) {
    return configured;
  }
  const auto limit = static_cast<size_t>(nofile.rlim_cur);
  const size_t room = limit > 2 * kReservedFds ? limit - kReservedFds : limit / 2;
  return std::max<size_t>(1, std::min<size_t>(configured, room));
}

void HttpServer::Stop() {
  if (!runtime_) return;
  Runtime& rt = *runtime_;
  rt.ioc->stop();
  rt.workers->stop();
  for (auto& thread : rt.threads) thread.join();
  rt.workers->join();
  // Asio objects before their io_context; the io_context's destructor
  // destroys the handlers still queued, and with them the sessions.
  rt.listeners.clear();
  rt.workers.reset();
  rt.ioc.reset();
  runtime_.reset();
  tls_.reset();
}

}  // namespace tcpstate
