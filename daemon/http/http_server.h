// The HTTP endpoint: /metrics (rendered from the registered Collectables),
// /healthz (alive), /readyz (a recent successful poll), and a landing page.
#pragma once

#include <prometheus/collectable.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "config/config.h"

class CivetServer;

namespace tcpstate {

class HttpServer {
 public:
  // Answers /readyz: true once data is fresh enough to scrape.
  using ReadinessProbe = std::function<bool()>;

  HttpServer(std::vector<std::shared_ptr<prometheus::Collectable>> collectables,
             ReadinessProbe ready);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; fails (address in use, bad address) with a
  // message that names the address.
  Status Start(const Config::Web& web);
  void Stop();

  // The civetweb "listening_ports" value for a listen address.
  static std::string CivetListeningPorts(const std::string& listen_address);

 private:
  class Handler;
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  ReadinessProbe ready_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer> server_;
};

}  // namespace tcpstate
