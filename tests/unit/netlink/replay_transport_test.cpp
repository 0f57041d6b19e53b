// ReplayTransport (netlink/replay_transport.h): a recorded dump read back as
// the kernel's replies. Regression tests (docs/reliability.md): corrupt or
// truncated recordings found by fuzzing must fail, not hang or over-read; the
// matching fuzz inputs live in tests/fuzz/regressions/ and are replayed under
// ASan/UBSan by tests/fuzz/run.sh. Hanging cases run as death tests (a forked
// child with an alarm), so each fails on its own.
#include "netlink/replay_transport.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "netlink/tcp_table_reader.h"
#include "support/netlink_builder.h"

namespace tcpstate {
namespace {

class NullSink : public TableSink {
 public:
  void BeginAttempt() override {}
  void OnRecord(const SocketRecord&) override {}
};

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
