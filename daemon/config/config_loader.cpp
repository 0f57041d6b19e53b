#include "config/config_loader.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <limits>
#include <optional>
#include <set>

#include "common/tcp_state.h"
#include "config/yaml_checks.h"

namespace tcpstate {
namespace {

// What one process-group pattern may cost RE2 to compile (its default is
// 8 MiB): a name-matching pattern needs a few KiB.
constexpr int64_t kMaxRegexMemory = int64_t{1} << 20;

uint64_t AsUnsigned(const YAML::Node& node, const std::string& path, uint64_t min, uint64_t max) {
  if (!node.IsScalar()) Fail(path, "must be a whole number");
  const std::string& s = node.Scalar();
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr != s.data() + s.size() || s.empty()) {
    Fail(path, "must be a whole number, got '" + s + "'");
  }
  if (value < min || value > max) {
    Fail(path,
         "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
  }
  return value;
}

std::chrono::milliseconds AsDuration(const YAML::Node& node, const std::string& path,
                                     std::chrono::milliseconds min, std::chrono::milliseconds max) {
  if (!node.IsScalar()) Fail(path, "must be a duration such as 15s");
  auto parsed = ParseDuration(node.Scalar());
  if (!parsed.ok()) Fail(path, parsed.error().message);
  if (*parsed < min || *parsed > max) {
    Fail(path, "must be between " + std::to_string(min.count()) + "ms and " +
                   std::to_string(max.count()) + "ms, got " + node.Scalar());
  }
  return *parsed;
}

template <typename Fn>
void ForEachItem(const YAML::Node& node, const std::string& path, Fn fn) {
  if (!node.IsSequence()) Fail(path, "must be a list");
  for (size_t i = 0; i < node.size(); ++i) {
    fn(node[i], path + "[" + std::to_string(i) + "]");
  }
}

PortRange AsPortRange(const YAML::Node& node, const std::string& path) {
  if (!node.IsScalar()) Fail(path, "must be a port (443) or a range (\"8000-8999\")");
  const std::string& s = node.Scalar();
  const size_t dash = s.find('-');
  if (dash == std::string::npos) {
    const auto port = static_cast<uint16_t>(AsUnsigned(node, path, 1, 65535));
    return {port, port};
  }
  const auto low = static_cast<uint16_t>(
      AsUnsigned(YAML::Node(s.substr(0, dash)), path + " (range start)", 1, 65535));
  const auto high = static_cast<uint16_t>(
      AsUnsigned(YAML::Node(s.substr(dash + 1)), path + " (range end)", 1, 65535));
  if (low > high) Fail(path, "range start above range end in '" + s + "'");
  return {low, high};
}

void LoadWeb(const YAML::Node& node, const std::string& path, Config::Web& web) {
  ExpectMap(node, path,
            {"listen_address", "telemetry_path", "max_connections", "max_requests_in_flight",
             "request_timeout"});
  if (node["listen_address"]) {
    web.listen_address = AsString(node["listen_address"], path + ".listen_address");
    if (auto ok = ValidateListenAddress(web.listen_address); !ok.ok()) {
      Fail(path + ".listen_address", ok.error().message);
    }
  }
  if (node["telemetry_path"]) {
    web.telemetry_path = AsString(node["telemetry_path"], path + ".telemetry_path");
    if (auto ok = ValidateTelemetryPath(web.telemetry_path); !ok.ok()) {
      Fail(path + ".telemetry_path", ok.error().message);
    }
  }
  if (node["max_connections"]) {
    web.max_connections = static_cast<uint32_t>(
        AsUnsigned(node["max_connections"], path + ".max_connections", 1, 1'048'576));
  }
  if (node["max_requests_in_flight"]) {
    web.max_requests_in_flight = static_cast<uint32_t>(
        AsUnsigned(node["max_requests_in_flight"], path + ".max_requests_in_flight", 1, 1024));
  }
  if (node["request_timeout"]) {
    web.request_timeout = AsDuration(node["request_timeout"], path + ".request_timeout",
                                     std::chrono::milliseconds(100), std::chrono::minutes(10));
  }
}

void LoadPoll(const YAML::Node& node, const std::string& path, Config::Poll& poll) {
  ExpectMap(node, path, {"interval", "netlink_dump_retries"});
  if (node["interval"]) {
    poll.interval = AsDuration(node["interval"], path + ".interval", std::chrono::milliseconds(100),
                               std::chrono::hours(1));
  }
  if (node["netlink_dump_retries"]) {
    poll.netlink_dump_retries = static_cast<uint32_t>(
        AsUnsigned(node["netlink_dump_retries"], path + ".netlink_dump_retries", 0, 100));
  }
}

void LoadPorts(const YAML::Node& node, const std::string& path, Config::Ports& ports) {
  ExpectMap(node, path, {"include", "max_distinct"});
  if (node["include"]) {
    ForEachItem(node["include"], path + ".include",
                [&](const YAML::Node& item, const std::string& p) {
                  ports.include.push_back(AsPortRange(item, p));
                });
  }
  if (node["max_distinct"]) {
    ports.max_distinct =
        static_cast<uint32_t>(AsUnsigned(node["max_distinct"], path + ".max_distinct", 0, 65536));
  }
}

void LoadProcesses(const YAML::Node& node, const std::string& path, Config::Processes& processes) {
  ExpectMap(node, path, {"enabled", "states", "pid_label", "max_distinct", "groups"});
  if (node["enabled"]) processes.enabled = AsBool(node["enabled"], path + ".enabled");
  if (node["pid_label"]) {
    processes.pid_label = AsBool(node["pid_label"], path + ".pid_label");
  }
  if (node["max_distinct"]) {
    processes.max_distinct =
        static_cast<uint32_t>(AsUnsigned(node["max_distinct"], path + ".max_distinct", 0, 100000));
  }
  if (node["states"]) {
    processes.states = 0;
    ForEachItem(node["states"], path + ".states",
                [&](const YAML::Node& item, const std::string& p) {
                  const std::string name = AsString(item, p);
                  if (name == "all") {
                    processes.states = 0xffffffffU;
                    return;
                  }
                  uint8_t state = 0;
                  if (!ParseStateLabel(name, &state)) {
                    Fail(p, "unknown TCP state '" + name + "' (use names like close_wait, or all)");
                  }
                  processes.states |= StateBit(state);
                });
  }
  if (node["groups"]) {
    std::set<std::string> names;
    ForEachItem(node["groups"], path + ".groups",
                [&](const YAML::Node& item, const std::string& p) {
                  ExpectMap(item, p, {"name", "match"});
                  if (!item["name"]) Fail(p + ".name", "is required");
                  if (!item["match"]) Fail(p + ".match", "is required");
                  ProcessGroup group;
                  group.name = AsString(item["name"], p + ".name");
                  if (group.name.empty() || group.name.size() > 64) {
                    Fail(p + ".name", "must be 1 to 64 characters");
                  }
                  group.pattern = AsString(item["match"], p + ".match");
                  // RE2 matches in linear time and bounds what a pattern may cost to
                  // compile: no length or nesting guards are needed.
                  re2::RE2::Options options;
                  options.set_log_errors(false);
                  options.set_max_mem(kMaxRegexMemory);
                  auto regex = std::make_shared<const re2::RE2>(group.pattern, options);
                  if (!regex->ok()) {
                    Fail(p + ".match", "invalid regular expression: " + regex->error());
                  }
                  group.regex = std::move(regex);
                  processes.groups.push_back(std::move(group));
                });
  }
}

void LoadCloseWait(const YAML::Node& node, const std::string& path, Config::CloseWait& close_wait) {
  ExpectMap(node, path, {"age_thresholds", "max_tracked"});
  if (node["age_thresholds"]) {
    close_wait.age_thresholds.clear();
    ForEachItem(
        node["age_thresholds"], path + ".age_thresholds",
        [&](const YAML::Node& item, const std::string& p) {
          const auto ms = AsDuration(item, p, std::chrono::seconds(1), std::chrono::hours(24 * 30));
          if (ms.count() % 1000 != 0) Fail(p, "must be whole seconds");
          close_wait.age_thresholds.push_back(std::chrono::duration_cast<std::chrono::seconds>(ms));
        });
    if (close_wait.age_thresholds.size() > 10) {
      Fail(path + ".age_thresholds", "at most 10 thresholds");
    }
  }
  if (node["max_tracked"]) {
    close_wait.max_tracked = static_cast<uint32_t>(
        AsUnsigned(node["max_tracked"], path + ".max_tracked", 0, 100'000'000));
  }
}

void LoadPages(const YAML::Node& node, const std::string& path, Config::Pages& pages) {
  ExpectMap(node, path, {"enabled", "top", "max_groups", "max_fds"});
  if (node["enabled"]) pages.enabled = AsBool(node["enabled"], path + ".enabled");
  if (node["top"]) {
    pages.top = static_cast<uint32_t>(AsUnsigned(node["top"], path + ".top", 1, 10'000));
  }
  if (node["max_groups"]) {
    pages.max_groups =
        static_cast<uint32_t>(AsUnsigned(node["max_groups"], path + ".max_groups", 1, 1'000'000));
  }
  if (node["max_fds"]) {
    pages.max_fds = static_cast<uint32_t>(AsUnsigned(node["max_fds"], path + ".max_fds", 0, 64));
  }
}

Config LoadRoot(const YAML::Node& root) {
  Config config;
  if (root.IsNull()) return config;  // an empty file means all defaults
  ExpectMap(root, "",
            {"web", "poll", "proc_root", "ports", "processes", "close_wait", "namespaces",
             "outbound", "pages", "log"});
  if (root["web"]) LoadWeb(root["web"], "web", config.web);
  if (root["poll"]) LoadPoll(root["poll"], "poll", config.poll);
  if (root["proc_root"]) {
    config.proc_root = AsString(root["proc_root"], "proc_root");
    if (config.proc_root.empty() || config.proc_root[0] != '/') {
      Fail("proc_root", "must be an absolute path");
    }
  }
  if (root["ports"]) LoadPorts(root["ports"], "ports", config.ports);
  if (root["processes"]) LoadProcesses(root["processes"], "processes", config.processes);
  if (root["close_wait"]) LoadCloseWait(root["close_wait"], "close_wait", config.close_wait);
  if (root["namespaces"]) {
    const YAML::Node& ns = root["namespaces"];
    ExpectMap(ns, "namespaces",
              {"mode", "max", "pod_names", "kubelet_pod_logs_dir", "read_timeout",
               "pods_bound_inactive"});
    if (ns["mode"]) {
      const std::string mode = AsString(ns["mode"], "namespaces.mode");
      if (mode == "host") {
        config.namespaces.mode = Config::Namespaces::Mode::kHost;
      } else if (mode == "all") {
        config.namespaces.mode = Config::Namespaces::Mode::kAll;
      } else {
        Fail("namespaces.mode", "must be host or all, got '" + mode + "'");
      }
    }
    if (ns["max"]) {
      config.namespaces.max =
          static_cast<uint32_t>(AsUnsigned(ns["max"], "namespaces.max", 1, 100000));
    }
    if (ns["pod_names"]) {
      const std::string source = AsString(ns["pod_names"], "namespaces.pod_names");
      using PodNames = Config::Namespaces::PodNames;
      if (source == "kubelet") {
        config.namespaces.pod_names = PodNames::kKubelet;
      } else if (source == "pod") {
        config.namespaces.pod_names = PodNames::kPod;
      } else if (source == "none") {
        config.namespaces.pod_names = PodNames::kNone;
      } else {
        Fail("namespaces.pod_names", "must be kubelet, pod or none, got '" + source + "'");
      }
    }
    if (ns["kubelet_pod_logs_dir"]) {
      config.namespaces.kubelet_pod_logs_dir =
          AsString(ns["kubelet_pod_logs_dir"], "namespaces.kubelet_pod_logs_dir");
      if (config.namespaces.kubelet_pod_logs_dir.empty() ||
          config.namespaces.kubelet_pod_logs_dir[0] != '/') {
        Fail("namespaces.kubelet_pod_logs_dir", "must be an absolute path");
      }
    }
    if (ns["read_timeout"]) {
      config.namespaces.read_timeout =
          AsDuration(ns["read_timeout"], "namespaces.read_timeout", std::chrono::milliseconds(1),
                     std::chrono::hours(1));
    }
    if (ns["pods_bound_inactive"]) {
      config.namespaces.pods_bound_inactive =
          AsBool(ns["pods_bound_inactive"], "namespaces.pods_bound_inactive");
    }
  }
  if (root["outbound"]) {
    ExpectMap(root["outbound"], "outbound", {"max_destinations"});
    if (root["outbound"]["max_destinations"]) {
      config.outbound.max_destinations = static_cast<uint32_t>(AsUnsigned(
          root["outbound"]["max_destinations"], "outbound.max_destinations", 0, 100'000'000));
    }
  }
  if (root["pages"]) LoadPages(root["pages"], "pages", config.pages);
  if (root["log"]) {
    ExpectMap(root["log"], "log", {"level"});
    if (root["log"]["level"]) {
      config.log_level = AsString(root["log"]["level"], "log.level");
      static const std::set<std::string> kLevels = {"debug", "info", "warn", "error"};
      if (!kLevels.contains(config.log_level)) {
        Fail("log.level", "must be one of debug, info, warn, error");
      }
    }
  }
  return config;
}

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return MakeError(ErrorKind::kInvalid, "empty duration");
  const std::string bad = "bad duration '" + std::string(text) +
                          "' (use a number and a unit: ms, s, m, h, e.g. 15s or 1m30s)";
  int64_t total_ms = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    uint64_t number = 0;
    auto [ptr, ec] = std::from_chars(text.data() + pos, text.data() + text.size(), number);
    if (ec != std::errc() || ptr == text.data() + pos) return MakeError(ErrorKind::kInvalid, bad);
    pos = static_cast<size_t>(ptr - text.data());
    size_t unit_end = pos;
    while (unit_end < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_end]))) {
      ++unit_end;
    }
    const std::string_view unit = text.substr(pos, unit_end - pos);
    int64_t scale = 0;
    if (unit == "ms")
      scale = 1;
    else if (unit == "s")
      scale = 1000;
    else if (unit == "m")
      scale = 60'000;
    else if (unit == "h")
      scale = 3'600'000;
    else if (unit == "d")
      scale = 86'400'000;
    else
      return MakeError(ErrorKind::kInvalid, bad);
    if (number > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / scale / 4)) {
      return MakeError(ErrorKind::kInvalid, "duration '" + std::string(text) + "' too large");
    }
    const int64_t term = static_cast<int64_t>(number) * scale;
    if (total_ms > std::numeric_limits<int64_t>::max() / 4 - term) {
      return MakeError(ErrorKind::kInvalid, "duration '" + std::string(text) + "' too large");
    }
    total_ms += term;
    pos = unit_end;
  }
  return std::chrono::milliseconds(total_ms);
}

Status ValidateListenAddress(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return MakeError(ErrorKind::kInvalid, "listen address '" + std::string(address) +
                                              "' needs a port, e.g. :9930 or 127.0.0.1:9930");
  }
  const std::string_view host = address.substr(0, colon);
  if (host.find(':') != std::string_view::npos && (host.front() != '[' || host.back() != ']')) {
    return MakeError(ErrorKind::kInvalid,
                     "listen address '" + std::string(address) +
                         "': an IPv6 address must be bracketed, e.g. [::1]:9930");
  }
  const std::string_view port = address.substr(colon + 1);
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || ptr != port.data() + port.size() || value == 0 || value > 65535) {
    return MakeError(ErrorKind::kInvalid,
                     "listen address '" + std::string(address) + "' has no valid port (1-65535)");
  }
  return OkStatus();
}

Result<Config> ParseConfig(std::string_view yaml) { return ParseYaml(yaml, LoadRoot); }

Result<Config> LoadConfigFile(const std::string& path) {
  auto text = ReadYamlFile(path, "config");
  if (!text.ok()) return text.error();
  auto config = ParseConfig(*text);
  if (!config.ok()) return InYamlFile(path, config.error());
  return config;
}

Status ValidateTelemetryPath(std::string_view path) {
  const std::string quoted = "telemetry path '" + std::string(path) + "'";
  if (path.empty() || path.front() != '/') {
    return MakeError(ErrorKind::kInvalid, quoted + " must start with '/'");
  }
  if (path.size() > 256)
    return MakeError(ErrorKind::kInvalid, "telemetry path longer than 256 bytes");
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte >= 0x7F || c == '?' || c == '#') {
      return MakeError(ErrorKind::kInvalid,
                       quoted + ": only printable ASCII without spaces, '?' or '#'");
    }
  }
  if (path == "/" || path == "/healthz" || path == "/readyz") {
    return MakeError(ErrorKind::kInvalid,
                     quoted + " is taken (the landing page, /healthz and /readyz)");
  }
  return OkStatus();
}

}  // namespace tcpstate
