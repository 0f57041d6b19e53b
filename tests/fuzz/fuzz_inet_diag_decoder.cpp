// libFuzzer target: arbitrary bytes as sock_diag dump datagrams.
//
// Input layout: byte 0 chooses the mode, the rest is the datagram.
//   bit 0  stamp seq/portid of the fixed identity into every netlink header
//          that fits, so mutated messages get past the identity check and
//          reach the per-type decoding (without it, the identity check itself
//          is fuzzed);
//   bit 1  the sink is the real PollAggregator (fake owners, small caps), and
//          a successful dump is finished, rendered and serialized as text
//          exposition: hostile records must make valid output, not a crash;
//   bits 4-7  split the datagram at message boundaries into datagrams of
//          (value + 1) messages each and decode them in turn, as the reader
//          does (0: one datagram).
// The fixed identity is the one the recorded dumps carry
// (tests/fixtures/golden/dumps/inet.bin), so its seeds decode unstamped.
#include <linux/netlink.h>
#include <prometheus/text_serializer.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "aggregate/close_wait_tracker.h"
#include "procfs/owner_directory.h"
#include "aggregate/poll_aggregator.h"
#include "metrics/render_snapshot.h"
#include "netlink/inet_diag_decoder.h"
#include "snapshot/snapshot.h"

namespace {

using tcpstate::ChunkStats;
using tcpstate::ChunkStatus;
using tcpstate::DumpIdentity;
using tcpstate::OwnerId;
using tcpstate::OwnerInfo;
using tcpstate::SocketRecord;

constexpr DumpIdentity kIdentity{123456, 12476};

// NLMSG_ALIGN computes in unsigned int: a length near 4 GiB aligns to 0.
size_t Align(uint32_t len) { return (size_t{len} + 3) & ~size_t{3}; }

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "fuzz_inet_diag_decoder: invariant broken: %s\n", what);
  std::abort();
}

// Writes the identity into every header that lies inside the buffer.
void Stamp(std::vector<uint8_t>& bytes) {
  size_t off = 0;
  while (off + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr hdr;
    std::memcpy(&hdr, bytes.data() + off, sizeof(hdr));
    hdr.nlmsg_seq = kIdentity.seq;
    hdr.nlmsg_pid = kIdentity.portid;
    std::memcpy(bytes.data() + off, &hdr, sizeof(hdr));
    if (hdr.nlmsg_len < sizeof(nlmsghdr)) return;
    off += Align(hdr.nlmsg_len);
  }
}

// Message boundaries as the decoder will walk them (stops at the first
// header that does not fit; the rest stays in the last chunk).
std::vector<size_t> Boundaries(const std::vector<uint8_t>& bytes) {
  std::vector<size_t> ends;
  size_t off = 0;
  while (off + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr hdr;
    std::memcpy(&hdr, bytes.data() + off, sizeof(hdr));
    if (hdr.nlmsg_len < sizeof(nlmsghdr) || hdr.nlmsg_len > bytes.size() - off) break;
    off += Align(hdr.nlmsg_len);
    if (off >= bytes.size()) break;
    ends.push_back(off);
  }
  return ends;
}

class CheckingSink : public tcpstate::RecordSink {
 public:
  void OnRecord(const SocketRecord& record) override {
    if (record.family != 2 && record.family != 10) Die("record of unknown family");
    ++records;
  }
  uint64_t records = 0;
};

// Deterministic owners derived from the inode: some cached, some resolved
// late, some unknown, with hostile names for the label escaping.
class FakeOwners : public tcpstate::OwnerDirectory {
 public:
  void BeginPoll() override {}
  std::optional<OwnerId> Lookup(uint32_t inode) override {
    if (inode % 7 == 0 && !resolved_) return std::nullopt;
    if (inode % 11 == 0) return tcpstate::kOwnerUnknown;
    return inode % 5;
  }
  void Resolve(std::span<const uint32_t>) override { resolved_ = true; }
  void EndPoll() override {}
  const OwnerInfo& Owner(OwnerId id) const override { return owners_[id % 5]; }

 private:
  bool resolved_ = false;
  OwnerInfo owners_[5] = {{1, "nginx"},
                          {2, "bad\"quote\\slash\nnewline"},
                          {3, "\xc3\xa9t\xc3\xa9"},
                          {4, ""},
                          {5, "(none)"}};
};

// Decodes the chunks in turn; returns the status of the last one decoded.
tcpstate::Result<ChunkStatus> DecodeAll(const std::vector<uint8_t>& bytes,
                                        unsigned per_chunk,
                                        tcpstate::RecordSink& sink,
                                        ChunkStats& stats) {
  std::vector<size_t> cuts;
  if (per_chunk > 0) {
    const auto ends = Boundaries(bytes);
    for (size_t i = per_chunk - 1; i < ends.size(); i += per_chunk) cuts.push_back(ends[i]);
  }
  cuts.push_back(bytes.size());
  size_t start = 0;
  tcpstate::Result<ChunkStatus> status = ChunkStatus::kMore;
  for (size_t end : cuts) {
    status = tcpstate::DecodeDumpChunk(
        std::span<const uint8_t>(bytes.data() + start, end - start), kIdentity, sink,
        stats);
    if (!status.ok() || *status == ChunkStatus::kDone) break;
    start = end;
  }
  return status;
}

void RunAggregated(const std::vector<uint8_t>& bytes, unsigned per_chunk) {
  tcpstate::Config config;
  config.ports.max_distinct = 3;
  config.processes.max_distinct = 2;
  config.processes.pid_label = true;
  config.outbound.max_destinations = 4;
  config.close_wait.max_tracked = 8;
  tcpstate::CloseWaitTracker tracker(config.close_wait.max_tracked);
  FakeOwners owners;
  tcpstate::PollAggregator aggregator(config, tcpstate::PortRange{32768, 60999},
                                      &owners, tracker, 1'000'000);
  aggregator.BeginAttempt();
  ChunkStats stats;
  auto status = DecodeAll(bytes, per_chunk, aggregator, stats);
  if (!status.ok()) return;
  std::vector<uint32_t> pending;
  aggregator.AppendPendingInodes(pending);
  owners.Resolve(pending);
  auto table = aggregator.Finish();
  if (table.total != stats.records) Die("aggregated total differs from decoded records");
  uint64_t by_state = 0;
  for (uint64_t n : table.by_state) by_state += n;
  if (by_state != table.total) Die("per-state counts do not add up");

  tcpstate::Snapshot snapshot;
  tcpstate::TargetData target;
  target.sockets = std::make_shared<const tcpstate::SocketTable>(std::move(table));
  snapshot.targets.push_back(std::move(target));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, tcpstate::RenderSnapshot(snapshot));
  const std::string text = out.str();
  if (text.empty() || text.back() != '\n') Die("exposition does not end with a newline");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::vector<uint8_t> bytes(data + 1, data + size);
  if (mode & 1) Stamp(bytes);
  const unsigned per_chunk = mode >> 4;
  if (mode & 2) {
    RunAggregated(bytes, per_chunk);
    return 0;
  }
  CheckingSink sink;
  ChunkStats stats;
  auto status = DecodeAll(bytes, per_chunk, sink, stats);
  if (stats.records != sink.records) Die("stats.records differs from records delivered");
  if (!status.ok() && status.error().message.empty()) Die("error without a message");
  return 0;
}
