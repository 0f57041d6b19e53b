#include "config/config_loader.h"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <cstdlib>
#include <string>

#include "common/tcp_state.h"

namespace tcpstate {
namespace {

const std::string kFixtures = TCPSTATE_SOURCE_DIR "/tests/fixtures/config/";

TEST(ConfigLoader, ShippedDefaultFileEqualsBuiltInDefaults) {
  auto loaded = LoadConfigFile(TCPSTATE_SOURCE_DIR "/config/tcpstate_exporter.yml");
  ASSERT_TRUE(loaded.ok()) << loaded.error().message;
  const Config defaults;
  EXPECT_EQ(loaded->web.listen_address, defaults.web.listen_address);
  EXPECT_EQ(loaded->web.max_connections, defaults.web.max_connections);
  EXPECT_EQ(loaded->web.request_timeout, defaults.web.request_timeout);
  EXPECT_EQ(loaded->poll.interval, defaults.poll.interval);
  EXPECT_EQ(loaded->poll.netlink_dump_retries, defaults.poll.netlink_dump_retries);
  EXPECT_EQ(loaded->proc_root, defaults.proc_root);
  EXPECT_TRUE(loaded->ports.include.empty());
  EXPECT_EQ(loaded->ports.max_distinct, defaults.ports.max_distinct);
  EXPECT_EQ(loaded->processes.enabled, defaults.processes.enabled);
  EXPECT_EQ(loaded->processes.states, defaults.processes.states);
  EXPECT_EQ(loaded->processes.pid_label, defaults.processes.pid_label);
  EXPECT_EQ(loaded->processes.max_distinct, defaults.processes.max_distinct);
  EXPECT_EQ(loaded->close_wait.age_thresholds, defaults.close_wait.age_thresholds);
  EXPECT_EQ(loaded->close_wait.max_tracked, defaults.close_wait.max_tracked);
  EXPECT_EQ(loaded->outbound.max_destinations, defaults.outbound.max_destinations);
  EXPECT_EQ(loaded->log_level, defaults.log_level);
  EXPECT_EQ(loaded->pages.enabled, defaults.pages.enabled);
  EXPECT_EQ(loaded->pages.top, defaults.pages.top);
  EXPECT_EQ(loaded->pages.max_groups, defaults.pages.max_groups);
  EXPECT_EQ(loaded->pages.max_fds, defaults.pages.max_fds);
  EXPECT_EQ(loaded->namespaces.pod_names, defaults.namespaces.pod_names);
  EXPECT_EQ(loaded->namespaces.kubelet_pod_logs_dir, defaults.namespaces.kubelet_pod_logs_dir);
  EXPECT_EQ(loaded->namespaces.read_timeout, defaults.namespaces.read_timeout);
  EXPECT_EQ(loaded->namespaces.pods_bound_inactive, defaults.namespaces.pods_bound_inactive);
}

TEST(ConfigLoader, PodNamespaceKeys) {
  auto c = ParseConfig(
      "namespaces:\n  mode: all\n  pod_names: pod\n  kubelet_pod_logs_dir: /host/logs\n"
      "  read_timeout: 250ms\n  pods_bound_inactive: true\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->namespaces.pod_names, Config::Namespaces::PodNames::kPod);
  EXPECT_EQ(c->namespaces.kubelet_pod_logs_dir, "/host/logs");
  EXPECT_EQ(c->namespaces.read_timeout, std::chrono::milliseconds(250));
  EXPECT_TRUE(c->namespaces.pods_bound_inactive);
  for (const auto& [yaml, key] : std::vector<std::pair<std::string, std::string>>{
           {"namespaces:\n  pod_names: hostname\n", "namespaces.pod_names"},
           {"namespaces:\n  kubelet_pod_logs_dir: logs\n", "namespaces.kubelet_pod_logs_dir"},
           {"namespaces:\n  read_timeout: 0s\n", "namespaces.read_timeout"},
           {"namespaces:\n  pods_bound_inactive: maybe\n", "namespaces.pods_bound_inactive"}}) {
    auto bad = ParseConfig(yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_NE(bad.error().message.find(key), std::string::npos) << bad.error().message;
  }
}

TEST(ConfigLoader, PagesKeys) {
  auto c = ParseConfig("pages:\n  enabled: false\n  top: 7\n  max_groups: 20\n  max_fds: 0\n");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_FALSE(c->pages.enabled);
  EXPECT_EQ(c->pages.top, 7u);
  EXPECT_EQ(c->pages.max_groups, 20u);
  EXPECT_EQ(c->pages.max_fds, 0u);
  for (const auto& [yaml, key] : std::vector<std::pair<std::string, std::string>>{
           {"pages:\n  enabled: perhaps\n", "pages.enabled"},
           {"pages:\n  top: 0\n", "pages.top"},
           {"pages:\n  max_groups: 0\n", "pages.max_groups"},
           {"pages:\n  max_fds: 65\n", "pages.max_fds"},
           {"pages:\n  remote: true\n", "pages.remote"}}) {
    auto bad = ParseConfig(yaml);
    ASSERT_FALSE(bad.ok()) << yaml;
    EXPECT_EQ(bad.error().key, key) << bad.error().message;
  }
}

TEST(ConfigLoader, CustomFile) {
  auto c = LoadConfigFile(kFixtures + "good-custom.yml");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->web.listen_address, "127.0.0.1:19930");
  EXPECT_EQ(c->poll.interval, std::chrono::seconds(90));
  ASSERT_EQ(c->ports.include.size(), 2u);
  EXPECT_EQ(c->ports.include[1].low, 8000);
  EXPECT_EQ(c->ports.include[1].high, 8999);
  EXPECT_EQ(c->ports.max_distinct, 5u);
  EXPECT_EQ(c->processes.states, StateBit(kCloseWait) | StateBit(kEstablished));
  EXPECT_TRUE(c->processes.pid_label);
  ASSERT_EQ(c->processes.groups.size(), 1u);
  EXPECT_TRUE(re2::RE2::PartialMatch("php-fpm8.2", *c->processes.groups[0].regex));
  ASSERT_EQ(c->close_wait.age_thresholds.size(), 2u);
  EXPECT_EQ(c->close_wait.age_thresholds[1], std::chrono::seconds(120));
}

TEST(ConfigLoader, EmptyDocumentMeansDefaults) {
  auto c = ParseConfig("");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->web.listen_address, kDefaultListenAddress);
}

struct BadCase {
  const char* file;
  const char* key_path;  // must appear at the start of the message
  const char* detail;    // and this somewhere in it
};

void PrintTo(const BadCase& c, std::ostream* os) { *os << c.file; }

class BadConfig : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadConfig, ErrorNamesTheKey) {
  const BadCase& c = GetParam();
  auto loaded = LoadConfigFile(kFixtures + c.file);
  ASSERT_FALSE(loaded.ok()) << c.file << " was accepted";
  const std::string& message = loaded.error().message;
  const std::string prefix = kFixtures + c.file + ": " + c.key_path;
  EXPECT_EQ(message.rfind(prefix, 0), 0u) << message;
  EXPECT_NE(message.find(c.detail), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, BadConfig,
    ::testing::Values(
        BadCase{"bad-unknown-key.yml", "web.listen_addres", "unknown key"},
        BadCase{"bad-duration.yml", "poll.interval", "bad duration 'fast'"},
        BadCase{"bad-type.yml", "ports.max_distinct", "whole number"},
        BadCase{"bad-port-range.yml", "ports.include[1]", "range start above range end"},
        BadCase{"bad-regex.yml", "processes.groups[0].match", "invalid regular expression"},
        BadCase{"bad-state.yml", "processes.states[1]", "unknown TCP state 'closed_wait'"},
        BadCase{"bad-listen-address.yml", "web.listen_address", "needs a port"},
        BadCase{"bad-not-a-map.yml", "web", "must be a mapping"},
        BadCase{"bad-yaml-syntax.yml", "YAML syntax error at line", ""},
        BadCase{"bad-out-of-range.yml", "poll.interval", "must be between"}),
    [](const auto& param_info) {
      std::string name = param_info.param.file;
      name = name.substr(0, name.find('.'));
      for (char& ch : name) {
        if (ch == '-') ch = '_';
      }
      return name;
    });

TEST(ConfigLoader, LongNumbersInGroupRegexAreRejected) {
  // Found by fuzzing when std::regex overflowed a long on such counts; RE2
  // caps repetitions at 1000 and says so.
  auto c = ParseConfig("processes:\n  groups:\n    - {name: g, match: 'a{1001}'}\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("processes.groups[0].match"), std::string::npos);
  EXPECT_TRUE(ParseConfig("processes:\n  groups:\n    - {name: g, match: 'a{2,10}'}\n").ok());
}

TEST(ConfigLoader, UnreadableFile) {
  auto loaded = LoadConfigFile("/nonexistent/tcpstate.yml");
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message.find("/nonexistent/tcpstate.yml"), std::string::npos);
}

TEST(ParseDuration, Forms) {
  EXPECT_EQ(*ParseDuration("15s"), std::chrono::seconds(15));
  EXPECT_EQ(*ParseDuration("500ms"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseDuration("1m30s"), std::chrono::seconds(90));
  EXPECT_EQ(*ParseDuration("2h"), std::chrono::hours(2));
  EXPECT_FALSE(ParseDuration("15").ok());
  EXPECT_FALSE(ParseDuration("s").ok());
  EXPECT_FALSE(ParseDuration("-1s").ok());
  EXPECT_FALSE(ParseDuration("99999999999999999999s").ok());
}

TEST(ValidateListenAddress, Forms) {
  EXPECT_TRUE(ValidateListenAddress(":9930").ok());
  EXPECT_TRUE(ValidateListenAddress("127.0.0.1:9930").ok());
  EXPECT_TRUE(ValidateListenAddress("[::1]:9930").ok());
  EXPECT_FALSE(ValidateListenAddress("::1:9930").ok());
  EXPECT_FALSE(ValidateListenAddress(":0").ok());
  EXPECT_FALSE(ValidateListenAddress(":70000").ok());
}

// Regression tests (ReliabilityRegression*, docs/reliability.md): defects found
// by fuzzing and hostile-input review; the matching fuzz inputs live in
// tests/fuzz/regressions/ and are replayed under ASan/UBSan by
// tests/fuzz/run.sh. Crashing and hanging cases run as death tests (a forked
// child with an alarm), so each fails on its own.

std::string GroupsConfig(const std::string& pattern) {
  return "processes:\n  groups:\n    - name: g\n      match: '" + pattern + "'\n";
}

// std::regex compiled recursively, one stack frame chain per term and per
// parenthesis: a long `match` pattern overflowed the stack of the main thread
// in --config.check, at start-up and on a SIGHUP reload (SIGSEGV instead of
// "configuration reload rejected"). Death-test isolation: a crash here fails
// this test only.
TEST(ReliabilityRegressionDeathTest, HugeGroupRegexIsRejectedNotACrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto config = ParseConfig(GroupsConfig(std::string(100'000, 'a')));
        std::exit(!config.ok() && config.error().message.find("processes.groups[0].match") !=
                                      std::string::npos
                      ? 0
                      : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(ReliabilityRegressionDeathTest, DeeplyNestedGroupRegexIsRejectedNotACrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        // RE2 parses without recursion: accepted or rejected, never a crash.
        auto config =
            ParseConfig(GroupsConfig(std::string(20'000, '(') + "a" + std::string(20'000, ')')));
        std::exit(!config.ok() || re2::RE2::PartialMatch("xa", *config->processes.groups[0].regex)
                      ? 0
                      : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// Found by fuzz_smoke: nested quantified groups made std::regex_search of one
// 15-byte process name run for minutes (the poll thread would hang on every
// process); the input is in
// tests/fuzz/regressions/fuzz_config_loader/regex-nested-quantifiers-hang.
// RE2 matches them in linear time: accepted, and matching returns at once
// (a backtracking matcher would run into the test's timeout here).
TEST(ReliabilityRegression, NestedQuantifiersMatchInLinearTime) {
  const std::string evil = "(((((((((((hosta)*)*)*)*)*)*)*)*)*)*)+";
  for (const std::string& pattern : {std::string("(a+)*$"), std::string("((x*)y)+"),
                                     std::string("(a|b*){2,}"), std::string("(?:(a+))+b"), evil}) {
    auto config = ParseConfig(GroupsConfig(pattern));
    ASSERT_TRUE(config.ok()) << pattern << ": " << config.error().message;
    const std::string name(64, 'a');
    for (int i = 0; i < 1000; ++i) {
      (void)re2::RE2::PartialMatch(name + "!", *config->processes.groups[0].regex);
    }
  }
}

// What RE2 does not offer (back-references, look-around) is a config error
// that names the key, as for any invalid pattern.
TEST(ReliabilityRegression, RegexFeaturesRe2LacksNameTheKey) {
  for (const std::string pattern : {"(a)\\1", "a(?=b)", "([a-z"}) {
    auto config = ParseConfig(GroupsConfig(pattern));
    ASSERT_FALSE(config.ok()) << pattern << " was accepted";
    EXPECT_NE(config.error().message.find("processes.groups[0].match: invalid regular expression"),
              std::string::npos)
        << config.error().message;
    EXPECT_EQ(config.error().key, "processes.groups[0].match");
  }
}

// A sane pattern must keep working once a size cap exists.
TEST(ReliabilityRegression, OrdinaryGroupRegexStillAccepted) {
  auto config = ParseConfig(GroupsConfig("^(nginx|envoy|java)$"));
  ASSERT_TRUE(config.ok()) << config.error().message;
  ASSERT_EQ(config->processes.groups.size(), 1u);
}

// Each term is capped, but the sum of five was not: signed overflow (UB;
// in practice a negative duration that ParseDuration returned as valid).
TEST(ReliabilityRegression, DurationSumOverflowIsAnError) {
  const std::string term = "640000000000h";
  auto parsed = ParseDuration(term + term + term + term + term);
  EXPECT_FALSE(parsed.ok()) << "returned " << parsed->count() << "ms";
}

}  // namespace
}  // namespace tcpstate
