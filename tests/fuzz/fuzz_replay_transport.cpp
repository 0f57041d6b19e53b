// libFuzzer target: arbitrary bytes as a recorded dump (--netlink.replay-dir).
//
// The bytes become <dir>/inet.bin and the real TcpTableReader reads the whole
// table through the ReplayTransport (which stamps seq/portid into every
// message it can walk and appends NLMSG_DONE when missing) and the decoder.
// A corrupt recording must fail the read, never hang (libFuzzer -timeout) or
// read outside the recording (ASan). Regression: a message with nlmsg_len 0
// or a recording cut inside a message hung Receive (docs/reliability.md).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "netlink/replay_transport.h"
#include "netlink/tcp_table_reader.h"

namespace {

class CountingSink : public tcpstate::TableSink {
 public:
  void BeginAttempt() override { records = 0; }
  void OnRecord(const tcpstate::SocketRecord& record) override {
    if (record.family != 2 && record.family != 10) {
      std::fprintf(stderr, "fuzz_replay_transport: record of family %d\n", record.family);
      std::abort();
    }
    ++records;
  }
  uint64_t records = 0;
};

const std::filesystem::path& Dir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
    auto path = std::filesystem::path(base) /
                ("tcpstate-fuzz-replay-" + std::to_string(::getpid()));
    std::filesystem::create_directories(path);
    std::atexit([] { std::filesystem::remove_all(Dir()); });
    return path;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  {
    std::ofstream out(Dir() / "inet.bin", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  tcpstate::ReplayTransportFactory factory(Dir());
  tcpstate::TcpTableReader reader(factory, 1);
  CountingSink sink;
  tcpstate::TableReadStats stats;
  auto status = reader.Read(sink, stats);
  if (!status.ok() && !stats.failure) {
    std::fprintf(stderr, "fuzz_replay_transport: failure without a reason\n");
    std::abort();
  }
  return 0;
}
