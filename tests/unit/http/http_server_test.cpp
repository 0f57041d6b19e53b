// /metrics as served by HttpServer (http/http_server.h) on a loopback port:
// the exposition prepared once per publish (metrics/snapshot_collectable.h),
// gzip-compressed for clients that accept it; keep-alive, limits, statuses.
#include "http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "metrics/snapshot_collectable.h"
#include "support/gunzip.h"
#include "support/metric_families.h"

namespace tcpstate {
namespace {

using testing::Families;
using testing::Gunzip;
using testing::Serialize;

struct Response {
  std::string status_line;
  std::string head;  // header lines, each ending in \r\n
  std::string body;

  // The value of a header (name case-insensitive), or nothing.
  std::optional<std::string> Header(const std::string& name) const {
    std::istringstream lines(head);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const size_t colon = line.find(':');
      if (colon != name.size() ||
          !std::equal(name.begin(), name.end(), line.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        continue;
      }
      return line.substr(std::min(line.find_first_not_of(' ', colon + 1), line.size()));
    }
    return std::nullopt;
  }
};

// One client connection; requests are framed by Content-Length, so the
// connection can be kept for the next one.
class Connection {
 public:
  explicit Connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval timeout{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  std::optional<Response> Send(const std::string& method, const std::string& path,
                               const std::string& headers) {
    const std::string request =
        method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n";
    if (!connected_ || ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
                           static_cast<ssize_t>(request.size())) {
      return std::nullopt;
    }
    std::string raw;
    size_t head_end;
    while ((head_end = raw.find("\r\n\r\n")) == std::string::npos) {
      if (!Receive(raw)) return std::nullopt;
    }
    const size_t line_end = raw.find("\r\n");
    Response r{raw.substr(0, line_end), raw.substr(line_end + 2, head_end - line_end), ""};
    const size_t length = method == "HEAD" ? 0 : std::stoul(r.Header("Content-Length").value());
    while (raw.size() < head_end + 4 + length) {
      if (!Receive(raw)) return std::nullopt;
    }
    r.body = raw.substr(head_end + 4);
    return r;
  }

  // True if the server closes the connection within `within`.
  bool ClosedByServer(std::chrono::milliseconds within) {
    timeval timeout{.tv_sec = 0, .tv_usec = static_cast<long>(within.count()) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char byte;
    return ::recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  bool Receive(std::string& raw) {
    char chunk[65536];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) raw.append(chunk, static_cast<size_t>(n));
    return n > 0;
  }

  int fd_;
  bool connected_ = false;
};

// One request on a connection of its own.
std::optional<Response> Fetch(int port, const std::string& method, const std::string& headers) {
  return Connection(port).Send(method, "/metrics", headers + "Connection: close\r\n");
}

// One server for the suite.
class MetricsEndpointTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    collectable_ = std::make_shared<SnapshotCollectable>();
    server_ = std::make_unique<HttpServer>(collectable_, [] { return true; });
    Config::Web web;
    web.listen_address = "127.0.0.1:0";
    ASSERT_TRUE(server_->Start(web).ok());
    port_ = server_->Port();
  }
  static void TearDownTestSuite() {
    server_.reset();
    collectable_.reset();
  }
  void SetUp() override {
    ASSERT_GT(port_, 0);
    collectable_->PublishFamilies(Families(3000));
  }

  static inline std::shared_ptr<SnapshotCollectable> collectable_;
  static inline std::unique_ptr<HttpServer> server_;
  static inline int port_ = 0;
};

TEST_F(MetricsEndpointTest, PlainTextWithoutAcceptEncoding) {
  const auto r = Fetch(port_, "GET", "");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r->body, collectable_->Prepared()->text);
  EXPECT_EQ(r->Header("Content-Length"), std::to_string(r->body.size()));
  EXPECT_EQ(r->Header("Content-Encoding"), std::nullopt);
  EXPECT_EQ(r->Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(r->Header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
}

TEST_F(MetricsEndpointTest, GzipWhenAccepted) {
  const auto r = Fetch(port_, "GET", "Accept-Encoding: gzip\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r->Header("Content-Encoding"), "gzip");
  EXPECT_EQ(r->Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(r->Header("Content-Length"), std::to_string(r->body.size()));
  EXPECT_EQ(r->body, collectable_->Prepared()->gzip);
  EXPECT_EQ(Gunzip(r->body), collectable_->Prepared()->text);
}

TEST_F(MetricsEndpointTest, PlainTextWhenGzipRefused) {
  for (const char* header : {"Accept-Encoding: gzip;q=0\r\n", "Accept-Encoding: identity\r\n",
                             "Accept-Encoding: br\r\n"}) {
    const auto r = Fetch(port_, "GET", header);
    ASSERT_TRUE(r) << header;
    EXPECT_EQ(r->Header("Content-Encoding"), std::nullopt) << header;
    EXPECT_EQ(r->body, collectable_->Prepared()->text) << header;
  }
}

TEST_F(MetricsEndpointTest, HeadSendsTheLengthOfTheChosenEncoding) {
  const auto gz = Fetch(port_, "HEAD", "Accept-Encoding: gzip\r\n");
  ASSERT_TRUE(gz);
  EXPECT_EQ(gz->Header("Content-Encoding"), "gzip");
  EXPECT_EQ(gz->Header("Content-Length"), std::to_string(collectable_->Prepared()->gzip.size()));
  EXPECT_EQ(gz->body, "");
  const auto plain = Fetch(port_, "HEAD", "");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->Header("Content-Length"), std::to_string(collectable_->Prepared()->text.size()));
  EXPECT_EQ(plain->body, "");
}

TEST_F(MetricsEndpointTest, ServesTheLatestPublish) {
  collectable_->PublishFamilies(Families(3));
  const auto r = Fetch(port_, "GET", "Accept-Encoding: gzip\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(Gunzip(r->body), Serialize(*Families(3)));
}

TEST_F(MetricsEndpointTest, KeepsTheConnectionForTheNextRequest) {
  Connection connection(port_);
  const auto first = connection.Send("GET", "/metrics", "Accept-Encoding: gzip\r\n");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->Header("Connection"), "keep-alive");
  const auto second = connection.Send("GET", "/metrics", "");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, collectable_->Prepared()->text);
}

TEST_F(MetricsEndpointTest, ClosesAnIdleKeptConnection) {
  Connection connection(port_);
  ASSERT_TRUE(connection.Send("GET", "/metrics", ""));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(connection.ClosedByServer(std::chrono::seconds(3)));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
}

TEST_F(MetricsEndpointTest, ClosesWhenAskedOrAfterAnError) {
  Connection asked(port_);
  const auto r = asked.Send("GET", "/metrics", "Connection: close\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->Header("Connection"), "close");
  EXPECT_TRUE(asked.ClosedByServer(std::chrono::milliseconds(200)));

  Connection refused(port_);
  const auto not_found = refused.Send("GET", "/nope", "");
  ASSERT_TRUE(not_found);
  EXPECT_EQ(not_found->status_line, "HTTP/1.1 404 Not Found");
  EXPECT_EQ(not_found->Header("Connection"), "close");
  EXPECT_TRUE(refused.ClosedByServer(std::chrono::milliseconds(200)));
}

TEST(MetricsEndpoint, NothingPublishedYetIsAnEmptyPlainBody) {
  auto collectable = std::make_shared<SnapshotCollectable>();
  HttpServer server(collectable, [] { return false; });
  Config::Web web;
  web.listen_address = "127.0.0.1:0";
  ASSERT_TRUE(server.Start(web).ok());
  const auto r = Fetch(server.Port(), "GET", "Accept-Encoding: gzip\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(r->Header("Content-Encoding"), std::nullopt);
  EXPECT_EQ(r->Header("Content-Length"), "0");
  EXPECT_EQ(r->body, "");
}

// Every status the server sends carries its own reason phrase (the civetweb
// era's table answered every code it did not list with "Service Unavailable").
TEST(MetricsEndpoint, EveryStatusCarriesItsOwnReason) {
  auto collectable = std::make_shared<SnapshotCollectable>();
  HttpServer server(collectable, [] { return false; });
  Config::Web web;
  web.listen_address = "127.0.0.1:0";
  WebConfig web_config;
  web_config.rate_limit_interval = std::chrono::hours(1);
  web_config.rate_limit_burst = 1;
  ASSERT_TRUE(server.Start(web, web_config).ok());
  const int port = server.Port();
  const auto status_line = [port](const std::string& method, const std::string& path) {
    const auto r = Connection(port).Send(method, path, "Connection: close\r\n");
    return r ? r->status_line : std::string("(no answer)");
  };
  EXPECT_EQ(status_line("GET", "/metrics"), "HTTP/1.1 200 OK");  // the one token
  EXPECT_EQ(status_line("GET", "/metrics"), "HTTP/1.1 429 Too Many Requests");
  EXPECT_EQ(status_line("GET", "/readyz"), "HTTP/1.1 503 Service Unavailable");
  EXPECT_EQ(status_line("POST", "/metrics"), "HTTP/1.1 405 Method Not Allowed");
  EXPECT_EQ(status_line("G@T", "/metrics"), "HTTP/1.1 400 Bad Request");
}

// Waits (bounded) until the server holds `n` connections.
bool OpenConnectionsReach(const HttpServer& server, size_t n) {
  for (int i = 0; i < 500 && server.open_connections() != n; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return server.open_connections() == n;
}

// At web.max_connections a new connection gets in: the one that has waited
// longest for its request is closed to make room, the others stay usable.
TEST(MetricsEndpoint, AtMaxConnectionsTheOldestWaitingConnectionMakesRoom) {
  auto collectable = std::make_shared<SnapshotCollectable>();
  collectable->PublishFamilies(Families(3));
  HttpServer server(collectable, [] { return true; });
  Config::Web web;
  web.listen_address = "127.0.0.1:0";
  web.max_connections = 3;
  web.request_timeout = std::chrono::minutes(1);  // no deadline closes anything here
  ASSERT_TRUE(server.Start(web).ok());
  Connection oldest(server.Port());
  ASSERT_TRUE(OpenConnectionsReach(server, 1));
  Connection second(server.Port());
  Connection third(server.Port());
  ASSERT_TRUE(OpenConnectionsReach(server, 3));

  Connection scraper(server.Port());
  const auto scraped = scraper.Send("GET", "/metrics", "");
  ASSERT_TRUE(scraped) << "a fourth connection got no answer at max_connections 3";
  EXPECT_EQ(scraped->status_line, "HTTP/1.1 200 OK");
  EXPECT_TRUE(oldest.ClosedByServer(std::chrono::seconds(5)));
  const auto later = second.Send("GET", "/healthz", "");
  ASSERT_TRUE(later) << "a newer idle connection was closed instead of the oldest";
  EXPECT_EQ(later->status_line, "HTTP/1.1 200 OK");
}

TEST(MetricsEndpoint, MaxConnectionsFitsTheDescriptorLimit) {
  rlimit nofile{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &nofile), 0);
  EXPECT_EQ(HttpServer::EffectiveMaxConnections(2), 2u);
  if (nofile.rlim_cur != RLIM_INFINITY && nofile.rlim_cur > 1024) {
    EXPECT_EQ(HttpServer::EffectiveMaxConnections(1'048'576), nofile.rlim_cur - 512);
  }
}

}  // namespace
}  // namespace tcpstate

namespace tcpstate {
namespace {

// A published snapshot with one CLOSE_WAIT row, for the drill-down pages.
std::shared_ptr<const Snapshot> OneCloseWaitRow() {
  auto table = std::make_shared<SocketTable>();
  table->detail.enabled = true;
  DetailRow row;
  row.process = "billing";
  row.pid = 4242;
  row.direction = Direction::kOutbound;
  row.remote_address = "10.1.2.3";
  row.remote_port = 443;
  row.sockets = 3000;
  table->detail.close_wait.push_back(row);
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->targets.push_back(
      TargetData{{{"netns", "host"}}, table, nullptr, nullptr, nullptr, false});
  return snapshot;
}

// The pages go through the same gate as /metrics (rate limit, basic auth; the
// in-flight cap in e2e_secure_endpoint); the switch turns them into 404.
TEST(DrillDownPages, BehindBasicAuthAndTheRateLimitLikeMetrics) {
  auto collectable = std::make_shared<SnapshotCollectable>();
  collectable->Publish(OneCloseWaitRow());
  HttpServer server(
      collectable, [] { return true; }, collectable);
  Config::Web web;
  web.listen_address = "127.0.0.1:0";
  WebConfig web_config;
  // htpasswd -nbBC 4 alice 'correct horse' (tests/unit/http/basic_auth_test.cpp)
  web_config.basic_auth_users = {
      {"alice", "$2y$04$Qu8nw6GKUuYExLxRo3Z6C.G467U06ALjvx2DASQtr4/0VtnpAGmFe"}};
  web_config.rate_limit_interval = std::chrono::hours(1);
  web_config.rate_limit_burst = 3;
  ASSERT_TRUE(server.Start(web, web_config).ok());
  const std::string alice = "Authorization: Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==\r\n";
  const auto get = [&](const std::string& path, const std::string& headers) {
    return Connection(server.Port()).Send("GET", path, headers + "Connection: close\r\n");
  };
  const auto anonymous = get("/close_wait", "");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status_line, "HTTP/1.1 401 Unauthorized");
  EXPECT_EQ(anonymous->body.find("10.1.2.3"), std::string::npos);
  const auto page = get("/close_wait?process=billing", alice);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status_line, "HTTP/1.1 200 OK");
  EXPECT_EQ(page->Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(page->body.find("<td class=\"remote-address\">10.1.2.3</td>"), std::string::npos);
  const auto json = get("/close_wait?format=json", alice);
  ASSERT_TRUE(json);
  EXPECT_EQ(json->Header("Content-Type"), "application/json");
  EXPECT_NE(json->body.find("\"pid\":4242"), std::string::npos) << json->body;
  const auto limited = get("/time_wait", alice);  // the burst of 3 is spent
  ASSERT_TRUE(limited);
  EXPECT_EQ(limited->status_line, "HTTP/1.1 429 Too Many Requests");
}

TEST(DrillDownPages, SwitchBadQueryAndLandingSummary) {
  auto collectable = std::make_shared<SnapshotCollectable>();
  collectable->Publish(OneCloseWaitRow());
  HttpServer server(
      collectable, [] { return true; }, collectable);
  Config::Web web;
  web.listen_address = "127.0.0.1:0";
  ASSERT_TRUE(server.Start(web).ok());
  const auto status = [&](const std::string& path) {
    const auto r = Connection(server.Port()).Send("GET", path, "Connection: close\r\n");
    return r ? r->status_line : std::string("(no answer)");
  };
  EXPECT_EQ(status("/close_wait"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status("/time_wait?format=json"), "HTTP/1.1 200 OK");
  EXPECT_EQ(status("/close_wait?port=x"), "HTTP/1.1 400 Bad Request");
  const auto landing = Connection(server.Port()).Send("GET", "/", "Connection: close\r\n");
  ASSERT_TRUE(landing);
  EXPECT_NE(landing->body.find("href=\"/close_wait\""), std::string::npos);
  EXPECT_NE(landing->body.find("10.1.2.3"), std::string::npos);  // the top offender
  collectable->SetPageOptions(false, 50);
  EXPECT_EQ(status("/close_wait"), "HTTP/1.1 404 Not Found");
  EXPECT_EQ(status("/time_wait"), "HTTP/1.1 404 Not Found");
  const auto off = Connection(server.Port()).Send("GET", "/", "Connection: close\r\n");
  ASSERT_TRUE(off);
  EXPECT_EQ(off->body.find("/close_wait"), std::string::npos);
  EXPECT_EQ(off->body.find("10.1.2.3"), std::string::npos);
}

}  // namespace
}  // namespace tcpstate
