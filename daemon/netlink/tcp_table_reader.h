// Reads the whole TCP socket table of the current network namespace through
// sock_diag: listening sockets of both families first (so every later socket
// can be classified inbound or outbound as it streams in), then the rest.
//
// Thread-safety: not thread-safe; one reader, called from one thread at a
// time (the thread that is in the namespace being read).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "netlink/inet_diag_decoder.h"
#include "netlink/inet_diag_request.h"
#include "netlink/netlink_transport.h"
#include "netlink/read_failure.h"

namespace tcpstate {

class TableSink : public RecordSink {
 public:
  // Called before each attempt: a retried read must not count twice.
  virtual void BeginAttempt() = 0;
};

// How the table is asked for (see inet_diag_request.h).
enum class DumpStrategy {
  // One legacy request per pass covering both families (one walk of the
  // kernel's hash instead of two); per family if the kernel refuses it.
  kAuto,
  kSingleWalk,  // legacy request only; a refusal fails the poll
  kPerFamily,   // SOCK_DIAG_BY_FAMILY per address family
};

struct ReadOptions {
  // Checked between datagrams so shutdown never waits for a long dump.
  const std::atomic<bool>* stop = nullptr;
  // The namespace's read deadline: checked between datagrams, and no single
  // receive waits past it.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  // TCP_BOUND_INACTIVE (bound, neither listening nor connected) makes the
  // kernel walk the bind hash, which every network namespace of the node
  // shares: asking for it in a pod costs in proportion to the node's sockets.
  bool bound_inactive = true;
};

struct TableReadStats {
  uint64_t records = 0;
  uint32_t retries = 0;  // attempts restarted because of NLM_F_DUMP_INTR
  // Datagrams dropped because a process, not the kernel, sent them.
  uint64_t foreign_datagrams = 0;
  // Why the read failed; empty after a success.
  std::optional<ReadFailure> failure;
  // Set on the read in which kAuto found the legacy request refused and
  // switched to per-family requests for good; `fallback_error` says why.
  bool fell_back = false;
  std::string fallback_error;
};

class TcpTableReader {
 public:
  // 64 KiB: twice the 32 KiB the kernel may pack into one dump datagram.
  static constexpr size_t kReceiveBufferSize = size_t{64} * 1024;

  TcpTableReader(TransportFactory& factory, uint32_t max_retries,
                 DumpStrategy strategy = DumpStrategy::kAuto)
      : factory_(factory),
        max_retries_(max_retries),
        single_walk_(strategy != DumpStrategy::kPerFamily),
        may_fall_back_(strategy == DumpStrategy::kAuto),
        buffer_(kReceiveBufferSize) {}

  // A reload's new netlink_dump_retries; what the reader learned about the
  // kernel (a refused legacy request) is kept.
  void set_max_retries(uint32_t max_retries) { max_retries_ = max_retries; }

  // True while the legacy single-walk request is in use.
  bool single_walk() const { return single_walk_; }

  Status Read(TableSink& sink, TableReadStats& stats, const ReadOptions& options = {});

 private:
  struct DumpOutcome {
    uint64_t records = 0;
    bool interrupted = false;
  };
  // `chunk_stats` counts what was decoded, also when the dump fails.
  Result<DumpOutcome> RunDump(NetlinkTransport& transport, const DumpRequest& request,
                              RecordSink& sink, const ReadOptions& options,
                              ChunkStats& chunk_stats);

  TransportFactory& factory_;
  uint32_t max_retries_;
  bool single_walk_;
  bool may_fall_back_;
  uint32_t next_seq_ = 1;
  bool failed_on_send_ = false;
  std::vector<uint8_t> buffer_;
};

}  // namespace tcpstate
