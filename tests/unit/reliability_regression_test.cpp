// Regression tests for the defects found by fuzzing and hostile-input review
// (docs/reliability.md). Each one names the input that broke the daemon; the
// matching fuzz inputs live in tests/fuzz/regressions/ and are replayed under
// ASan/UBSan by tests/fuzz/run.sh.
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config_loader.h"
#include "netlink/inet_diag_decoder.h"
#include "netlink/replay_transport.h"
#include "netlink/tcp_table_reader.h"
#include "netlink_builder.h"

namespace tcpstate {
namespace {

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

class NullSink : public TableSink {
 public:
  void BeginAttempt() override {}
  void OnRecord(const SocketRecord&) override {}
};

// strerror(-status) with status == INT_MIN negated INT_MIN (UB, reported by
// UBSan on the first fuzzing seconds). Must be an ordinary decode failure.
TEST(ReliabilityRegression, NlmsgErrorWithIntMinIsAnOrdinaryFailure) {
  NullSink sink;
  ChunkStats stats;
  const auto error = testing::ErrorMessage(1, 2, INT_MIN);
  auto status = DecodeDumpChunk(error, DumpIdentity{1, 2}, sink, stats);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kKernelError);
  const auto done = testing::DoneMessage(1, 2, INT_MIN);
  status = DecodeDumpChunk(done, DumpIdentity{1, 2}, sink, stats);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kKernelDoneError);
}

class ReplayDir {
 public:
  explicit ReplayDir(const testing::Bytes& inet) {
    char tmpl[] = "/tmp/tcpstate-replay-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::ofstream(dir_ / "inet.bin", std::ios::binary)
        .write(reinterpret_cast<const char*>(inet.data()),
               static_cast<std::streamsize>(inet.size()));
  }
  ~ReplayDir() { std::filesystem::remove_all(dir_); }
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
};

// One record, as a recording of inet.bin would hold it.
testing::Bytes OneRecord() {
  testing::SocketSpec spec;
  spec.state = 1;
  return testing::DiagMessage(0, 0, spec);
}

// Reads the table from a replay of `inet` (inet.bin) with no retries.
bool ReplayReadSucceeds(const testing::Bytes& inet) {
  ReplayDir dir(inet);
  ReplayTransportFactory factory(dir.path());
  TcpTableReader reader(factory, 0);
  NullSink sink;
  TableReadStats stats;
  return reader.Read(sink, stats).ok();
}

// A recording with a message whose nlmsg_len is 0 (a corrupt or hand-edited
// --netlink.replay-dir file): ReplayTransport::Receive stepped by
// NLMSG_ALIGN(0) == 0 and never returned. alarm() turns the hang into a
// failure.
TEST(ReliabilityRegressionDeathTest, ReplayOfZeroLengthMessageFailsInsteadOfHanging) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::alarm(10);
        auto bytes = OneRecord();
        bytes.resize(bytes.size() + 16, 0);  // a header with nlmsg_len 0
        std::exit(ReplayReadSucceeds(bytes) ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

// A recording cut inside its last message: Receive copied NLMSG_ALIGN(len)
// bytes from a vector shorter than that, read the next header past the end
// of the data (heap over-read) and, as those bytes held a length of 0, never
// returned. The dump must fail, whatever the reason, and promptly.
TEST(ReliabilityRegressionDeathTest, ReplayOfTruncatedRecordingFailsCleanly) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        ::alarm(10);
        auto bytes = OneRecord();
        bytes.resize(bytes.size() - 10);
        std::exit(ReplayReadSucceeds(bytes) ? 1 : 0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace tcpstate
