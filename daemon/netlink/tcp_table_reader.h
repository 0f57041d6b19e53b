// Reads the whole TCP socket table of the current network namespace through
// sock_diag: listening sockets of both families first (so every later socket
// can be classified inbound or outbound as it streams in), then the rest.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "common/result.h"
#include "netlink/inet_diag_decoder.h"
#include "netlink/inet_diag_request.h"
#include "netlink/netlink_transport.h"

namespace tcpstate {

// Error::code when NLM_F_DUMP_INTR persisted through every retry.
inline constexpr int kDumpInterrupted = -1005;

class TableSink : public RecordSink {
 public:
  // Called before each attempt: a retried read must not count twice.
  virtual void BeginAttempt() = 0;
};

struct TableReadStats {
  uint64_t records = 0;
  uint32_t retries = 0;  // attempts restarted because of NLM_F_DUMP_INTR
  // On failure, a stable label value: socket, send, recv, truncated,
  // malformed, sequence, nlmsg_error, done_error, interrupted, cancelled.
  const char* failure_reason = nullptr;
};

class TcpTableReader {
 public:
  // 64 KiB: twice the 32 KiB the kernel may pack into one dump datagram.
  static constexpr size_t kReceiveBufferSize = size_t{64} * 1024;

  TcpTableReader(TransportFactory& factory, uint32_t max_retries)
      : factory_(factory), max_retries_(max_retries), buffer_(kReceiveBufferSize) {}

  // `stop` is checked between datagrams so shutdown never waits for a long
  // dump to finish.
  Status Read(TableSink& sink, TableReadStats& stats, const std::atomic<bool>* stop = nullptr);

 private:
  struct DumpOutcome {
    uint64_t records = 0;
    bool interrupted = false;
  };
  Result<DumpOutcome> RunDump(NetlinkTransport& transport, const DumpRequest& request,
                              RecordSink& sink, const std::atomic<bool>* stop);

  TransportFactory& factory_;
  uint32_t max_retries_;
  uint32_t next_seq_ = 1;
  bool failed_on_send_ = false;
  std::vector<uint8_t> buffer_;
};

}  // namespace tcpstate
