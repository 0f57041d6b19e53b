// libFuzzer target: arbitrary text as the YAML configuration.
//
// ParseConfig must turn anything (deep nesting, huge scalars, wrong types,
// anchors, binary garbage) into a Config or an error that names the problem,
// never a crash. A configuration it accepts is then used the way the daemon
// uses it: every processes.groups regex is matched against process names,
// as ProcOwnerDirectory::LabelFor does for each new socket owner.
// The same bytes also go to ParseDuration and ValidateListenAddress.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <re2/re2.h>
#include <string>
#include <string_view>

#include "config/config_loader.h"

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_config_loader: invariant broken: %s\n", what);
  std::abort();
}

// What a comm can look like after SanitizeLabelValue: at most 15 bytes.
constexpr const char* kNames[] = {"", "stable-owner", "java", "abcdefghijklmno",
                                  "\xef\xbf\xbd\xef\xbf\xbd"};

void CheckConfig(const tcpstate::Config& config) {
  for (const auto& range : config.ports.include) {
    if (range.low == 0 || range.low > range.high) Die("accepted an invalid port range");
  }
  if (config.poll.interval.count() < 100) Die("accepted a poll interval below 100ms");
  if (config.web.request_timeout.count() < 100) Die("accepted a request timeout below 100ms");
  if (config.close_wait.age_thresholds.size() > 10) Die("accepted more than 10 thresholds");
  for (const auto& threshold : config.close_wait.age_thresholds) {
    if (threshold.count() < 1) Die("accepted a threshold below 1s");
  }
  for (const auto& group : config.processes.groups) {
    if (!group.regex) Die("group without a compiled regex");
    if (group.name.empty() || group.name.size() > 64) Die("accepted a bad group name");
    for (const char* name : kNames) {
      (void)re2::RE2::PartialMatch(name, *group.regex);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = tcpstate::ParseConfig(text);
  if (config.ok()) {
    CheckConfig(*config);
  } else if (config.error().message.empty()) {
    Die("error without a message");
  }
  if (size <= 256) {
    auto duration = tcpstate::ParseDuration(text);
    if (duration.ok() && duration->count() < 0) Die("ParseDuration returned a negative duration");
    (void)tcpstate::ValidateListenAddress(text);
  }
  return 0;
}
