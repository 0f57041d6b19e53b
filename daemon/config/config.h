// The daemon's settings: a passive struct. config_loader.cpp fills it from
// YAML; defaults here match config/tcpstate_exporter.yml.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <vector>

namespace tcpstate {

// Port 9930 sits in the Prometheus exporter range; the README says why this
// number.
inline constexpr const char* kDefaultListenAddress = ":9930";

struct PortRange {
  uint16_t low = 0;
  uint16_t high = 0;
};

struct ProcessGroup {
  std::string name;
  std::string pattern;
  std::shared_ptr<const std::regex> regex;  // compiled `pattern`
};

struct Config {
  struct Web {
    std::string listen_address = kDefaultListenAddress;
    // Repeated --web.listen-address flags; when not empty, served instead of
    // listen_address.
    std::vector<std::string> listen_addresses;
    // Connections served at once, one server thread each, counting clients
    // still in the TLS handshake or still sending their request.
    uint32_t max_connections = 64;
    // Requests being authenticated or answered at once; more get 503 at once.
    // /healthz and /readyz are not counted. Answering /metrics costs
    // microseconds of CPU (the text is prepared once per poll), so by default
    // only the server threads (max_connections) bound it.
    uint32_t max_requests_in_flight = 64;
    // Time a client has to send its request headers (over TLS, and separately
    // to complete the handshake); also the longest a response may stall. It
    // bounds how long a slow client holds one of the max_connections threads.
    std::chrono::milliseconds request_timeout{3'000};
  } web;

  struct Poll {
    std::chrono::milliseconds interval{15'000};
    uint32_t netlink_dump_retries = 3;
  } poll;

  std::string proc_root = "/proc";

  struct Ports {
    std::vector<PortRange> include;  // empty: every port may be a label value
    uint32_t max_distinct = 100;
  } ports;

  struct Processes {
    bool enabled = true;
    uint32_t states = 0xffffffffU;  // bitmask of TcpState bits attributed
    bool pid_label = false;
    uint32_t max_distinct = 50;
    std::vector<ProcessGroup> groups;
  } processes;

  struct CloseWait {
    std::vector<std::chrono::seconds> age_thresholds{
        std::chrono::seconds(300), std::chrono::seconds(1800),
        std::chrono::seconds(3600)};
    uint32_t max_tracked = 1'000'000;
  } close_wait;

  struct Namespaces {
    // host: the exporter's own network namespace only. all: every network
    // namespace on the node (Kubernetes pods), each labelled with its pod.
    enum class Mode { kHost, kAll } mode = Mode::kHost;
    uint32_t max = 256;
  } namespaces;

  struct Outbound {
    uint32_t max_destinations = 1'000'000;
  } outbound;

  std::string log_level = "info";
};

}  // namespace tcpstate
