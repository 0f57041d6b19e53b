#include "netlink/tcp_table_reader.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <iterator>
#include <span>

#include "common/tcp_state.h"

namespace tcpstate {
namespace {

// Passes on only the states that were asked for: a replayed recording holds
// every state, and a kernel that ignored the mask must not double count.
class StateFilter : public RecordSink {
 public:
  StateFilter(RecordSink& next, uint32_t states) : next_(next), states_(states) {}
  void OnRecord(const SocketRecord& record) override {
    if (Wanted(record)) next_.OnRecord(record);
  }
  // Passes runs of wanted records on as runs (a kernel that honours the
  // mask sends nothing else: one run).
  void OnRecords(std::span<const SocketRecord> records) override {
    size_t begin = 0;
    for (size_t i = 0; i < records.size(); ++i) {
      if (Wanted(records[i])) continue;
      if (i > begin) next_.OnRecords(records.subspan(begin, i - begin));
      begin = i + 1;
    }
    if (records.size() > begin) next_.OnRecords(records.subspan(begin));
  }

 private:
  bool Wanted(const SocketRecord& record) const {
    return record.state < 32 && (states_ & StateBit(record.state));
  }

  RecordSink& next_;
  uint32_t states_;
};

// One receive never waits longer than this, deadline or not.
constexpr std::chrono::milliseconds kMaxReceiveWait{10'000};

Error DeadlineError() {
  return MakeError(ErrorKind::kDeadline,
                   "socket table read ran past the namespace's deadline "
                   "(namespaces.read_timeout)");
}

}  // namespace

namespace {

// The failure of a dump that did not fail on sending, from its error's kind.
ReadFailure FailureOf(const Error& error) {
  switch (error.kind) {
    case ErrorKind::kTruncated:
      return ReadFailure::kTruncated;
    case ErrorKind::kInvalid:
      return ReadFailure::kMalformed;
    case ErrorKind::kUnexpected:
      return ReadFailure::kSequence;
    case ErrorKind::kKernelError:
      return ReadFailure::kNlmsgError;
    case ErrorKind::kKernelDoneError:
      return ReadFailure::kDoneError;
    case ErrorKind::kInterrupted:
      return ReadFailure::kInterrupted;
    case ErrorKind::kCancelled:
      return ReadFailure::kCancelled;
    case ErrorKind::kDeadline:
      return ReadFailure::kDeadline;
    default:
      return error.errnum == ENOSPC ? ReadFailure::kTruncated : ReadFailure::kRecv;
  }
}

}  // namespace

Result<TcpTableReader::DumpOutcome> TcpTableReader::RunDump(NetlinkTransport& transport,
                                                            const DumpRequest& request,
                                                            RecordSink& sink,
                                                            const ReadOptions& options,
                                                            ChunkStats& chunk_stats) {
  const DumpIdentity identity{next_seq_++, transport.PortId(), RecordTypeFor(request)};
  if (auto sent = transport.Send(BuildInetDiagDumpRequest(request, identity.seq)); !sent.ok()) {
    failed_on_send_ = true;
    return sent.error();
  }
  StateFilter filter(sink, request.states);
  // Bounded: even 10M sockets fit in far fewer datagrams than this.
  for (int datagrams = 0; datagrams < 50'000'000; ++datagrams) {
    if (options.stop != nullptr && options.stop->load(std::memory_order_relaxed)) {
      return MakeError(ErrorKind::kCancelled, "dump cancelled by shutdown");
    }
    if (options.deadline) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          *options.deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return DeadlineError();
      transport.SetReceiveTimeout(std::min(left, kMaxReceiveWait));
    }
    auto received = transport.Receive(buffer_);
    if (!received.ok()) {
      const int code = received.error().errnum;
      if ((code == EAGAIN || code == EWOULDBLOCK) && options.deadline &&
          std::chrono::steady_clock::now() >= *options.deadline) {
        return DeadlineError();
      }
      return received.error();
    }
    if (*received == 0) {
      return MakeError(ErrorKind::kTruncated, "netlink socket closed before NLMSG_DONE");
    }
    auto status =
        DecodeDumpChunk(std::span(buffer_.data(), *received), identity, filter, chunk_stats);
    if (!status.ok()) return status.error();
    if (*status == ChunkStatus::kDone) {
      return DumpOutcome{chunk_stats.records, chunk_stats.interrupted};
    }
  }
  return MakeError(ErrorKind::kInvalid, "dump did not end");
}

Status TcpTableReader::Read(TableSink& sink, TableReadStats& stats, const ReadOptions& options) {
  const uint32_t not_listen = kAllStatesMask & ~StateBit(kListen) &
                              ~(options.bound_inactive ? 0U : StateBit(kBoundInactive));
  const uint8_t listener_ext = ListenerExtensions();
  const std::array<DumpRequest, 2> single_walk = {{
      {AF_UNSPEC, StateBit(kListen), listener_ext},
      {AF_UNSPEC, not_listen},
  }};
  const std::array<DumpRequest, 4> per_family = {{
      {AF_INET, StateBit(kListen), listener_ext},
      {AF_INET6, StateBit(kListen), listener_ext},
      {AF_INET, not_listen},
      {AF_INET6, not_listen},
  }};
  stats.failure.reset();
  stats.foreign_datagrams = 0;
  stats.fell_back = false;
  // Attempts restart on NLM_F_DUMP_INTR (bounded) and once when the legacy
  // request is refused (not counted as a retry).
  for (uint32_t attempt = 0;;) {
    auto transport = factory_.Open();
    if (!transport.ok()) {
      stats.failure = ReadFailure::kSocket;
      return transport.error();
    }
    sink.BeginAttempt();
    stats.records = 0;
    uint64_t foreign_before = (*transport)->foreign_datagrams();
    bool interrupted = false;
    bool refused = false;
    const std::span<const DumpRequest> requests = single_walk_
                                                      ? std::span<const DumpRequest>(single_walk)
                                                      : std::span<const DumpRequest>(per_family);
    for (const auto& request : requests) {
      failed_on_send_ = false;
      ChunkStats chunk_stats;
      auto outcome = RunDump(**transport, request, sink, options, chunk_stats);
      stats.foreign_datagrams += (*transport)->foreign_datagrams() - foreign_before;
      foreign_before = (*transport)->foreign_datagrams();
      if (!outcome.ok()) {
        // A kernel without the legacy interface answers the first request
        // with NLMSG_ERROR before any record: nothing was counted yet.
        if (single_walk_ && may_fall_back_ && &request == &requests.front() &&
            outcome.error().kind == ErrorKind::kKernelError && chunk_stats.records == 0) {
          single_walk_ = false;
          stats.fell_back = true;
          stats.fallback_error = outcome.error().message;
          refused = true;
          break;
        }
        stats.failure = failed_on_send_ ? ReadFailure::kSend : FailureOf(outcome.error());
        return outcome.error();
      }
      stats.records += outcome->records;
      interrupted |= outcome->interrupted;
    }
    if (refused) continue;
    if (!interrupted) return OkStatus();
    if (attempt >= max_retries_) {
      stats.failure = ReadFailure::kInterrupted;
      return MakeError(ErrorKind::kInterrupted,
                       "socket table changed during every dump (NLM_F_DUMP_INTR " +
                           std::to_string(attempt + 1) + " times)");
    }
    ++stats.retries;
    ++attempt;
  }
}

}  // namespace tcpstate
