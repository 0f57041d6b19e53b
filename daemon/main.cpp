// tcpstate_exporter: flags -> config -> wiring -> signals. The only place
// that catches fatal errors.
#include <prometheus/text_serializer.h>
#include <signal.h>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "common/log_format.h"
#include "config/config_loader.h"
#include "config/reload_failure.h"
#include "http/http_server.h"
#include "http/listen_address.h"
#include "http/web_config.h"
#include "metrics/build_info.h"
#include "metrics/process_collector.h"
#include "metrics/snapshot_collectable.h"
#include "netlink/netlink_transport.h"
#include "netlink/replay_transport.h"
#include "poller/poller.h"

namespace tcpstate {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

// How long SIGTERM/SIGINT waits for the poll in progress: a poll notices the
// stop between netlink datagrams and between the processes and fd links of an
// owner scan, but a read of /proc can block for ever (a process in D state
// holding its mmap_lock, a hung FUSE or NFS mount below --path.procfs).
constexpr std::chrono::seconds kPollStopTimeout{3};

constexpr const char* kUsage = R"(Usage: tcpstate_exporter [flags]

Prometheus exporter for the Linux TCP socket table: sockets per state, port
and process, CLOSE_WAIT leaks with their age, TIME_WAIT against its limits.

Flags (a value follows the flag, "--flag VALUE", or is joined to it,
"--flag=VALUE"):
  --config.file FILE          YAML configuration (default: built-in defaults,
                              the same as config/tcpstate_exporter.yml)
  --config FILE               alias of --config.file
  --web.listen-address ADDR   address to serve on, overrides web.listen_address
                              (default ":9930", every IPv4 and IPv6 address;
                              "127.0.0.1:9930" or "[::1]:9930" for loopback only;
                              brackets around any host: "[$(HOST_IP)]:9930");
                              may be given several times
  --web.telemetry-path PATH   path to serve the metrics on, overrides
                              web.telemetry_path (default /metrics; not /,
                              /healthz or /readyz)
  --web.config.file FILE      TLS and basic auth for the endpoint, in the
                              Prometheus exporter-toolkit web-config.yml format
                              (docs/security.md); reloaded on SIGHUP
  --path.procfs DIR           /proc to read, overrides proc_root (default /proc)
  --log.level LEVEL           debug, info, warn or error (default info)
  --log.format FORMAT         logfmt or json (default logfmt), on stderr
  --config.check              validate the configuration and exit (0 valid, 2 not)
  --once                      poll once, print the metrics to stdout and exit
  --netlink.replay-dir DIR    testing: read recorded dumps (DIR/inet.bin,
                              DIR/inet6.bin, raw datagrams as `ss -D` writes)
                              instead of the kernel
  --version                   print version and exit
  -h, --help                  print this help and exit

Signals: SIGHUP reloads the configuration files (a bad file is rejected and the
running configuration kept); SIGTERM and SIGINT stop the exporter with status 0:
the HTTP server closes, the poll in progress is abandoned, and a read of /proc
still blocked after 3 s is logged as a warning and not waited for.
)";

struct Flags {
  std::optional<std::string> config_file;
  std::vector<std::string> listen_addresses;
  std::optional<std::string> web_config_file;
  std::optional<std::string> procfs;
  std::optional<std::string> log_level;
  LogFormat log_format = LogFormat::kLogfmt;
  std::optional<std::string> telemetry_path;
  std::optional<std::string> replay_dir;
  bool check = false;
  bool once = false;
};

struct UsageError {
  std::string message;
};

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (auto eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) throw UsageError{arg + " needs a value"};
      return argv[++i];
    };
    if (arg == "--config.file" || arg == "--config")
      flags.config_file = value();
    else if (arg == "--web.listen-address")
      flags.listen_addresses.push_back(value());
    else if (arg == "--web.config.file")
      flags.web_config_file = value();
    else if (arg == "--path.procfs")
      flags.procfs = value();
    else if (arg == "--web.telemetry-path")
      flags.telemetry_path = value();
    else if (arg == "--log.level")
      flags.log_level = value();
    else if (arg == "--log.format") {
      const std::string name = value();
      const auto format = ParseLogFormat(name);
      if (!format) throw UsageError{"--log.format: must be logfmt or json, not '" + name + "'"};
      flags.log_format = *format;
    } else if (arg == "--netlink.replay-dir")
      flags.replay_dir = value();
    else if (arg == "--config.check")
      flags.check = true;
    else if (arg == "--once")
      flags.once = true;
    else if (arg == "--version") {
      const BuildInfo& b = GetBuildInfo();
      std::printf("tcpstate_exporter %s (revision %s, %s)\n", b.version, b.revision, b.compiler);
      std::exit(kExitOk);
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(kExitOk);
    } else {
      throw UsageError{"unknown flag " + arg};
    }
  }
  return flags;
}

// Config file (or defaults) with the flag overrides applied.
Result<Config> BuildConfig(const Flags& flags) {
  Config config;
  if (flags.config_file) {
    auto loaded = LoadConfigFile(*flags.config_file);
    if (!loaded.ok()) return loaded.error();
    config = std::move(loaded).value();
  }
  for (const std::string& address : flags.listen_addresses) {
    if (auto ok = ValidateListenAddress(address); !ok.ok()) {
      return MakeError(ErrorKind::kInvalid, "--web.listen-address: " + ok.error().message);
    }
  }
  if (!flags.listen_addresses.empty()) {
    config.web.listen_address = flags.listen_addresses.front();
    config.web.listen_addresses = flags.listen_addresses;
  }
  if (flags.telemetry_path) {
    if (auto ok = ValidateTelemetryPath(*flags.telemetry_path); !ok.ok()) {
      return MakeError(ErrorKind::kInvalid, "--web.telemetry-path: " + ok.error().message);
    }
    config.web.telemetry_path = *flags.telemetry_path;
  }
  if (flags.procfs) config.proc_root = *flags.procfs;
  if (flags.log_level) {
    if (*flags.log_level != "debug" && *flags.log_level != "info" && *flags.log_level != "warn" &&
        *flags.log_level != "error") {
      return MakeError(ErrorKind::kInvalid, "--log.level: must be one of debug, info, warn, error");
    }
    config.log_level = *flags.log_level;
  }
  return config;
}

// spdlog's levels as the Go exporters name theirs.
std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    default:
      return "error";
  }
}

// Lines in --log.format (common/log_format.h).
class LineFormatter : public spdlog::formatter {
 public:
  explicit LineFormatter(LogFormat format) : format_(format) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line =
        FormatLogLine(format_, msg.time, LevelName(msg.level),
                      std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<LineFormatter>(format_);
  }

 private:
  LogFormat format_;
};

void SetUpLogging(const std::string& level, LogFormat format) {
  auto logger = spdlog::stderr_logger_mt("tcpstate");
  spdlog::set_default_logger(logger);
  spdlog::set_formatter(std::make_unique<LineFormatter>(format));
  spdlog::set_level(spdlog::level::from_str(level));
}

std::unique_ptr<TransportFactory> MakeTransports(const Flags& flags) {
  if (flags.replay_dir) return std::make_unique<ReplayTransportFactory>(*flags.replay_dir);
  return std::make_unique<MnlTransportFactory>();
}

// The snapshot's metrics and the exporter's own process_* metrics.
std::shared_ptr<SnapshotCollectable> MakeCollectable() {
  return std::make_shared<SnapshotCollectable>(
      std::vector<std::shared_ptr<const prometheus::Collectable>>{
          std::make_shared<const ProcessCollector>()});
}

int RunOnce(const Config& config, const Flags& flags) {
  auto collectable = MakeCollectable();
  Poller poller(config, MakeTransports(flags), *collectable);
  const bool ok = poller.PollOnce();
  prometheus::TextSerializer().Serialize(std::cout, collectable->Collect());
  std::cout.flush();
  return ok ? kExitOk : kExitRuntime;
}

// The --web.config.file contents, or the empty configuration (plain HTTP, no
// authentication) without the flag.
Result<WebConfig> BuildWebConfig(const Flags& flags) {
  if (!flags.web_config_file) return WebConfig();
  return LoadWebConfigFile(*flags.web_config_file);
}

int Serve(const Config& initial, const WebConfig& web_config, const Flags& flags) {
  // Block the signals in every thread; the main thread takes them with sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a scraper hanging up must not kill us
  // Connections cost a file descriptor each, not a thread: raise the soft
  // limit to the hard one, as Go programs (node_exporter) do.
  if (rlimit nofile{};
      getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  auto collectable = MakeCollectable();
  collectable->SetPageOptions(initial.pages.enabled, initial.pages.top);
  Poller poller(initial, MakeTransports(flags), *collectable);
  HttpServer server(
      collectable, [&poller] { return poller.Ready(); }, collectable);
  if (auto started = server.Start(initial.web, web_config); !started.ok()) {
    spdlog::critical("{}", started.error().message);
    return kExitRuntime;
  }
  spdlog::info("tcpstate_exporter {} listening on {}, metrics on {}, polling every {}ms",
               GetBuildInfo().version, initial.web.listen_address, initial.web.telemetry_path,
               initial.poll.interval.count());

  // Lets shutdown wait for the poll thread with a deadline (std::jthread can
  // only join, without one).
  std::promise<void> poll_done;
  const std::future<void> poll_finished = poll_done.get_future();
  std::jthread polling([&](std::stop_token stop) {
    poller.Run(stop);
    poll_done.set_value();
  });
  std::string listen_address = initial.web.listen_address;
  for (;;) {
    int signo = 0;
    if (sigwait(&signals, &signo) != 0) continue;
    if (signo == SIGHUP) {
      if (!flags.config_file && !flags.web_config_file) {
        spdlog::info("SIGHUP: no --config.file or --web.config.file to reload");
        continue;
      }
      auto reloaded = BuildConfig(flags);
      if (!reloaded.ok()) {
        spdlog::error("configuration reload rejected, keeping the running one: {}",
                      reloaded.error().message);
        poller.ReloadFailed(ClassifyReloadError(ReloadFile::kConfig, reloaded.error()));
        continue;
      }
      auto web_reloaded = BuildWebConfig(flags);
      if (web_reloaded.ok()) {
        if (auto updated = server.UpdateWebConfig(*web_reloaded); !updated.ok()) {
          web_reloaded = updated.error();
        }
      }
      if (!web_reloaded.ok()) {
        spdlog::error("web configuration reload rejected, keeping the running one: {}",
                      web_reloaded.error().message);
        poller.ReloadFailed(ClassifyReloadError(ReloadFile::kWebConfig, web_reloaded.error()));
        continue;
      }
      if (reloaded->web.listen_address != listen_address) {
        spdlog::warn("web.listen_address changes need a restart; still on {}", listen_address);
      }
      if (reloaded->web.telemetry_path != initial.web.telemetry_path) {
        spdlog::warn("web.telemetry_path changes need a restart; still on {}",
                     initial.web.telemetry_path);
      }
      if (reloaded->web.max_connections != initial.web.max_connections ||
          reloaded->web.max_requests_in_flight != initial.web.max_requests_in_flight ||
          reloaded->web.request_timeout != initial.web.request_timeout) {
        spdlog::warn(
            "web.max_connections, web.max_requests_in_flight and "
            "web.request_timeout changes need a restart");
      }
      spdlog::set_level(spdlog::level::from_str(reloaded->log_level));
      collectable->SetPageOptions(reloaded->pages.enabled, reloaded->pages.top);
      poller.UpdateConfig(std::move(reloaded).value());
      poller.ReloadSucceeded();
      continue;
    }
    spdlog::info("received {}, shutting down", strsignal(signo));
    break;
  }
  // Stop the poll first (it winds down while the HTTP server closes), then
  // wait for it until the deadline.
  const auto deadline = std::chrono::steady_clock::now() + kPollStopTimeout;
  polling.request_stop();
  server.Stop();
  if (poll_finished.wait_until(deadline) == std::future_status::timeout) {
    // The poll thread is blocked in a read that will not return: leave
    // without joining it (std::jthread's destructor would wait for ever) and
    // without destructors (it still uses the poller). Nothing else is left
    // to save: the HTTP server is closed and metrics live in memory only.
    spdlog::warn("poll still running after {}s ({}), exiting without waiting",
                 kPollStopTimeout.count(), poller.activity());
    spdlog::default_logger()->flush();
    std::fflush(nullptr);
    std::_Exit(kExitOk);
  }
  polling.join();
  spdlog::info("stopped");
  return kExitOk;
}

int Main(int argc, char** argv) {
  Flags flags;
  try {
    flags = ParseFlags(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "tcpstate_exporter: %s\n\n%s", e.message.c_str(), kUsage);
    return kExitUsage;
  }
  auto config = BuildConfig(flags);
  if (!config.ok()) {
    std::fprintf(stderr, "tcpstate_exporter: configuration error: %s\n",
                 config.error().message.c_str());
    return kExitUsage;
  }
  auto web_config = BuildWebConfig(flags);
  if (!web_config.ok()) {
    std::fprintf(stderr, "tcpstate_exporter: web configuration error: %s\n",
                 web_config.error().message.c_str());
    return kExitUsage;
  }
  if (flags.check) {
    // Every address must parse and be bindable here (one in use, e.g. by the
    // running exporter, is fine).
    for (const std::string& address : HttpServer::ListenAddresses(config->web)) {
      if (auto ok = CheckListenAddress(address, /*in_use_is_ok=*/true); !ok.ok()) {
        std::fprintf(stderr, "tcpstate_exporter: configuration error: %s\n",
                     ok.error().message.c_str());
        return kExitUsage;
      }
    }
    std::printf("configuration %s is valid\n",
                flags.config_file ? flags.config_file->c_str() : "(defaults)");
    if (flags.web_config_file) {
      std::printf("web configuration %s is valid\n", flags.web_config_file->c_str());
    }
    return kExitOk;
  }
  SetUpLogging(config->log_level, flags.log_format);
  if (flags.once) return RunOnce(*config, flags);
  return Serve(*config, *web_config, flags);
}

}  // namespace
}  // namespace tcpstate

int main(int argc, char** argv) {
  try {
    return tcpstate::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tcpstate_exporter: fatal: %s\n", e.what());
    return 1;
  }
}
