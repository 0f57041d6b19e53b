// The daemon's settings: a passive struct. config_loader.cpp fills it from
// YAML; defaults here match config/tcpstate_exporter.yml.
#pragma once

#include <re2/re2.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tcpstate {

// Port 9930 sits in the Prometheus exporter range; the README says why this
// number.
inline constexpr const char* kDefaultListenAddress = ":9930";
inline constexpr const char* kDefaultTelemetryPath = "/metrics";

struct PortRange {
  uint16_t low = 0;
  uint16_t high = 0;
};

struct ProcessGroup {
  std::string name;
  std::string pattern;
  // Compiled `pattern` (RE2 syntax, as in Prometheus; matched anywhere in
  // the name, RE2::PartialMatch): linear time in the name's length.
  std::shared_ptr<const re2::RE2> regex;
};

struct Config {
  struct Web {
    std::string listen_address = kDefaultListenAddress;
    // Repeated --web.listen-address flags; when not empty, served instead of
    // listen_address.
    std::vector<std::string> listen_addresses;
    // Path the metrics are served on (--web.telemetry-path overrides it);
    // ValidateTelemetryPath says what is allowed.
    std::string telemetry_path = kDefaultTelemetryPath;
    // Connections open at once, counting clients still in the TLS handshake,
    // still sending their request or idle between two requests of a kept
    // connection. Each costs a file descriptor and a few KiB of memory, not a
    // thread (docs/http.md): the default holds node_exporter-like floods of
    // 10,000 idle connections. Lowered at start to RLIMIT_NOFILE minus 512.
    // When a new connection arrives at the limit, the one that has waited
    // longest for its request is closed to make room (connections being
    // answered never are), so idle or slow clients cannot lock a scraper out.
    uint32_t max_connections = 16'384;
    // Requests being authenticated or answered at once; more get 503 at once.
    // /healthz and /readyz are not counted. Answering /metrics costs
    // microseconds of CPU (the text is prepared once per poll); the cap bounds
    // how many clients may queue for a bcrypt check.
    uint32_t max_requests_in_flight = 64;
    // One deadline from accept for the TLS handshake and the request headers
    // together (a total, not per read): a connection that has not sent its
    // whole request by then is closed. Also the longest a response may stall.
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
        std::chrono::seconds(300), std::chrono::seconds(1800), std::chrono::seconds(3600)};
    uint32_t max_tracked = 1'000'000;
  } close_wait;

  struct Namespaces {
    // host: the exporter's own network namespace only. all: every network
    // namespace on the node (Kubernetes pods), each labelled with its pod.
    enum class Mode { kHost, kAll } mode = Mode::kHost;
    uint32_t max = 256;
    // Where pod_name / pod_namespace come from (netns/pod_identifier.h):
    // the kubelet's pod log directories (trusted), the pod's own files (the
    // pod supplies them), or nowhere (pod_uid only).
    enum class PodNames { kKubelet, kPod, kNone } pod_names = PodNames::kKubelet;
    std::string kubelet_pod_logs_dir = "/var/log/pods";
    // Each namespace's read (sysctls, counters, socket table) must end within
    // this; one that does not is skipped for the poll (its last good data kept
    // and marked stale) so that one namespace cannot hold up the others.
    std::chrono::milliseconds read_timeout{5'000};
    // TCP_BOUND_INACTIVE sockets are read in the node's namespace only unless
    // this is set: asking for them makes the kernel walk the bind hash that
    // every namespace shares, about 3 ms per pod beside 240k sockets.
    bool pods_bound_inactive = false;
  } namespaces;

  struct Outbound {
    uint32_t max_destinations = 1'000'000;
  } outbound;

  // The drill-down pages /close_wait and /time_wait (metrics/detail_pages.h):
  // CLOSE_WAIT and TIME_WAIT sockets by remote address, gathered during the
  // dump. Off: not gathered, and the pages answer 404 (some operators will
  // not publish remote addresses).
  struct Pages {
    bool enabled = true;
    // Rows a page shows (after its filters), busiest first.
    uint32_t top = 50;
    // Groups kept per namespace and state (pod, process, pid, direction,
    // local port, remote address:port); sockets beyond it are counted as
    // not shown. Bounds the memory: docs/http.md has the bytes per group.
    uint32_t max_groups = 1'000;
    // Socket inodes kept per CLOSE_WAIT group, whose fd numbers the page
    // shows for its top rows.
    uint32_t max_fds = 8;
  } pages;

  std::string log_level = "info";
};

}  // namespace tcpstate
