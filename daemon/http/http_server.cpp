#include "http/http_server.h"

#include <CivetServer.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "metrics/build_info.h"

namespace tcpstate {
namespace {

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

void Reply(mg_connection* conn, int status, const char* content_type,
           const std::string& body) {
  const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found"
                     : status == 405 ? "Method Not Allowed" : "Service Unavailable";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, reason, content_type, body.size());
  mg_write(conn, body.data(), body.size());
}

}  // namespace

class HttpServer::Handler : public CivetHandler {
 public:
  explicit Handler(HttpServer& owner) : owner_(owner) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    const mg_request_info* info = mg_get_request_info(conn);
    const std::string uri = info->local_uri ? info->local_uri : "/";
    if (uri == "/metrics") {
      std::vector<prometheus::MetricFamily> families;
      for (const auto& collectable : owner_.collectables_) {
        auto collected = collectable->Collect();
        families.insert(families.end(), std::make_move_iterator(collected.begin()),
                        std::make_move_iterator(collected.end()));
      }
      std::ostringstream out;
      prometheus::TextSerializer().Serialize(out, families);
      Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", out.str());
    } else if (uri == "/healthz") {
      Reply(conn, 200, "text/plain; charset=utf-8", "ok\n");
    } else if (uri == "/readyz") {
      const bool ready = owner_.ready_ && owner_.ready_();
      Reply(conn, ready ? 200 : 503, "text/plain; charset=utf-8",
            ready ? "ready\n" : "no recent successful poll\n");
    } else if (uri == "/") {
      const BuildInfo& build = GetBuildInfo();
      char page[2048];
      std::snprintf(page, sizeof(page), kLandingPage, build.version, build.revision);
      Reply(conn, 200, "text/html; charset=utf-8", page);
    } else {
      Reply(conn, 404, "text/plain; charset=utf-8", "not found\n");
    }
    return true;
  }

  bool handleHead(CivetServer* server, mg_connection* conn) override {
    return handleGet(server, conn);
  }

 private:
  HttpServer& owner_;
};

HttpServer::HttpServer(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
                       ReadinessProbe ready)
    : collectables_(std::move(collectables)), ready_(std::move(ready)) {}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::CivetListeningPorts(const std::string& listen_address) {
  // ":9930" means every address: "+9930" is civetweb's IPv4-and-IPv6 form.
  if (!listen_address.empty() && listen_address[0] == ':') {
    const bool ipv6 = mg_check_feature(8) != 0;
    return (ipv6 ? "+" : "") + listen_address.substr(1);
  }
  return listen_address;
}

Status HttpServer::Start(const Config::Web& web) {
  const std::vector<std::string> options = {
      "listening_ports", CivetListeningPorts(web.listen_address),
      "num_threads", std::to_string(web.max_connections),
      "request_timeout_ms", std::to_string(web.request_timeout.count()),
      "enable_keep_alive", "no",
  };
  try {
    server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    return Error{EADDRINUSE, "cannot listen on " + web.listen_address +
                                 " (address in use, or not an address of this "
                                 "host): " + e.what()};
  }
  handler_ = std::make_unique<Handler>(*this);
  server_->addHandler("/", handler_.get());
  return OkStatus();
}

void HttpServer::Stop() {
  if (server_) {
    server_->close();
    server_.reset();
  }
}

}  // namespace tcpstate
