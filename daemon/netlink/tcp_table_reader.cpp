#include "netlink/tcp_table_reader.h"

#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "netlink/tcp_state.h"

namespace tcpstate {
namespace {

// Passes on only the states that were asked for: a replayed recording holds
// every state, and a kernel that ignored the mask must not double count.
class StateFilter : public RecordSink {
 public:
  StateFilter(RecordSink& next, uint32_t states) : next_(next), states_(states) {}
  void OnRecord(const SocketRecord& record) override {
    if (record.state < 32 && (states_ & StateBit(record.state))) {
      next_.OnRecord(record);
    }
  }

 private:
  RecordSink& next_;
  uint32_t states_;
};

}  // namespace

static const char* ReasonFor(const Error& error) {
  switch (error.code) {
    case kDecodeTruncated:
    case ENOSPC:
      return "truncated";
    case kDecodeMalformed:
      return "malformed";
    case kDecodeSequence:
      return "sequence";
    case kDecodeNlmsgError:
      return "nlmsg_error";
    case kDecodeDoneError:
      return "done_error";
    case kDumpInterrupted:
      return "interrupted";
    case ECANCELED:
      return "cancelled";
    default:
      return "recv";
  }
}

Result<TcpTableReader::DumpOutcome> TcpTableReader::RunDump(NetlinkTransport& transport,
                                                            const DumpRequest& request,
                                                            RecordSink& sink,
                                                            const std::atomic<bool>* stop) {
  const DumpIdentity identity{next_seq_++, transport.PortId()};
  if (auto sent = transport.Send(BuildInetDiagDumpRequest(request, identity.seq)); !sent.ok()) {
    failed_on_send_ = true;
    return sent.error();
  }
  StateFilter filter(sink, request.states);
  ChunkStats chunk_stats;
  // Bounded: even 10M sockets fit in far fewer datagrams than this.
  for (int datagrams = 0; datagrams < 50'000'000; ++datagrams) {
    if (stop != nullptr && stop->load(std::memory_order_relaxed)) {
      return Error{ECANCELED, "dump cancelled by shutdown"};
    }
    auto received = transport.Receive(buffer_);
    if (!received.ok()) return received.error();
    if (*received == 0) {
      return Error{kDecodeTruncated, "netlink socket closed before NLMSG_DONE"};
    }
    auto status =
        DecodeDumpChunk(std::span(buffer_.data(), *received), identity, filter, chunk_stats);
    if (!status.ok()) return status.error();
    if (*status == ChunkStatus::kDone) {
      return DumpOutcome{chunk_stats.records, chunk_stats.interrupted};
    }
  }
  return Error{kDecodeMalformed, "dump did not end"};
}

Status TcpTableReader::Read(TableSink& sink, TableReadStats& stats, const std::atomic<bool>* stop) {
  const std::array<DumpRequest, 4> requests = {{
      {AF_INET, StateBit(kListen)},
      {AF_INET6, StateBit(kListen)},
      {AF_INET, kAllStatesMask & ~StateBit(kListen)},
      {AF_INET6, kAllStatesMask & ~StateBit(kListen)},
  }};
  stats.failure_reason = nullptr;
  for (uint32_t attempt = 0;; ++attempt) {
    auto transport = factory_.Open();
    if (!transport.ok()) {
      stats.failure_reason = "socket";
      return transport.error();
    }
    sink.BeginAttempt();
    stats.records = 0;
    bool interrupted = false;
    for (const auto& request : requests) {
      failed_on_send_ = false;
      auto outcome = RunDump(**transport, request, sink, stop);
      if (!outcome.ok()) {
        stats.failure_reason = failed_on_send_ ? "send" : ReasonFor(outcome.error());
        return outcome.error();
      }
      stats.records += outcome->records;
      interrupted |= outcome->interrupted;
    }
    if (!interrupted) return OkStatus();
    if (attempt >= max_retries_) {
      stats.failure_reason = "interrupted";
      return Error{kDumpInterrupted, "socket table changed during every dump (NLM_F_DUMP_INTR " +
                                         std::to_string(attempt + 1) + " times)"};
    }
    ++stats.retries;
  }
}

}  // namespace tcpstate
