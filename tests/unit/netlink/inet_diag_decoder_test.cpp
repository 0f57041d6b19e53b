#include "netlink/inet_diag_decoder.h"

#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>

#include <climits>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <span>

#include "common/tcp_state.h"
#include "netlink/tcp_table_reader.h"
#include "support/netlink_builder.h"
#include "support/scripted_transport.h"

namespace tcpstate {
namespace {

using testing::Bytes;
using testing::Concat;
using testing::DiagMessage;
using testing::DoneMessage;
using testing::ErrorMessage;
using testing::RetypeRecords;
using testing::SocketSpec;

constexpr uint32_t kSeq = 7;
constexpr uint32_t kPid = 99;

class CollectingSink : public RecordSink {
 public:
  void OnRecord(const SocketRecord& record) override { records.push_back(record); }
  std::vector<SocketRecord> records;
};

Result<ChunkStatus> Decode(const Bytes& bytes, CollectingSink& sink, ChunkStats& stats) {
  return DecodeDumpChunk(bytes, DumpIdentity{kSeq, kPid}, sink, stats);
}

TEST(InetDiagDecoder, DecodesFieldsInHostOrder) {
  SocketSpec spec;
  spec.state = kCloseWait;
  spec.local_port = 40000;
  spec.remote_port = 443;
  spec.remote_v4 = 0x0a000002;
  spec.inode = 12345;
  spec.cookie = 0x1122334455667788ULL;
  spec.rqueue = 3;
  spec.wqueue = 4;
  CollectingSink sink;
  ChunkStats stats;
  auto status = Decode(DiagMessage(kSeq, kPid, spec), sink, stats);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(*status, ChunkStatus::kMore);
  ASSERT_EQ(sink.records.size(), 1u);
  const auto& r = sink.records[0];
  EXPECT_EQ(r.family, AF_INET);
  EXPECT_EQ(r.state, kCloseWait);
  EXPECT_EQ(r.local_port, 40000);
  EXPECT_EQ(r.remote_port, 443);
  EXPECT_EQ(r.remote_addr[0], 10);
  EXPECT_EQ(r.remote_addr[3], 2);
  EXPECT_EQ(r.inode, 12345u);
  EXPECT_EQ(r.cookie, 0x1122334455667788ULL);
  EXPECT_EQ(r.rqueue, 3u);
  EXPECT_EQ(r.wqueue, 4u);
  EXPECT_EQ(stats.records, 1u);
  EXPECT_FALSE(stats.interrupted);
}

TEST(InetDiagDecoder, SeveralMessagesThenDone) {
  SocketSpec a, b;
  a.state = kEstablished;
  b.family = AF_INET6;
  b.state = kTimeWait;
  CollectingSink sink;
  ChunkStats stats;
  auto status = Decode(
      Concat({DiagMessage(kSeq, kPid, a), DiagMessage(kSeq, kPid, b), DoneMessage(kSeq, kPid)}),
      sink, stats);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, ChunkStatus::kDone);
  ASSERT_EQ(sink.records.size(), 2u);
  EXPECT_EQ(sink.records[1].family, AF_INET6);
  EXPECT_EQ(sink.records[1].local_addr[15], 1);
}

TEST(InetDiagDecoder, ErrorInsideDoneFailsTheDump) {
  CollectingSink sink;
  ChunkStats stats;
  auto status = Decode(DoneMessage(kSeq, kPid, -EINTR), sink, stats);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kKernelDoneError);
}

TEST(InetDiagDecoder, NlmsgErrorFailsTheDump) {
  CollectingSink sink;
  ChunkStats stats;
  auto status = Decode(ErrorMessage(kSeq, kPid, -EPERM), sink, stats);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kKernelError);
}

TEST(InetDiagDecoder, AckIsNotAnError) {
  CollectingSink sink;
  ChunkStats stats;
  auto status = Decode(ErrorMessage(kSeq, kPid, 0), sink, stats);
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(*status, ChunkStatus::kMore);
}

TEST(InetDiagDecoder, WrongSequenceOrPortIdIsRejected) {
  CollectingSink sink;
  ChunkStats stats;
  EXPECT_EQ(Decode(DiagMessage(kSeq + 1, kPid, {}), sink, stats).error().kind,
            ErrorKind::kUnexpected);
  EXPECT_EQ(Decode(DiagMessage(kSeq, kPid + 1, {}), sink, stats).error().kind,
            ErrorKind::kUnexpected);
  EXPECT_TRUE(sink.records.empty());
}

TEST(InetDiagDecoder, DumpInterruptedFlagIsReported) {
  CollectingSink sink;
  ChunkStats stats;
  auto status = Decode(DiagMessage(kSeq, kPid, {}, NLM_F_MULTI | NLM_F_DUMP_INTR), sink, stats);
  ASSERT_TRUE(status.ok());
  EXPECT_TRUE(stats.interrupted);
}

TEST(InetDiagDecoder, EveryTruncationIsAnError) {
  const Bytes full = DiagMessage(kSeq, kPid, {});
  // Cutting the message anywhere must fail, never yield a record.
  for (size_t cut = 1; cut < full.size(); ++cut) {
    CollectingSink sink;
    ChunkStats stats;
    Bytes partial(full.begin(), full.begin() + static_cast<long>(cut));
    auto status = Decode(partial, sink, stats);
    EXPECT_FALSE(status.ok()) << "cut at " << cut;
    EXPECT_TRUE(sink.records.empty()) << "cut at " << cut;
  }
}

TEST(InetDiagDecoder, PayloadShorterThanInetDiagMsg) {
  uint8_t small[8] = {};
  auto bytes = testing::Message(SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, kSeq, kPid, small, sizeof(small));
  CollectingSink sink;
  ChunkStats stats;
  EXPECT_EQ(Decode(bytes, sink, stats).error().kind, ErrorKind::kTruncated);
}

TEST(InetDiagDecoder, LengthBelowHeaderIsMalformed) {
  Bytes bytes = DiagMessage(kSeq, kPid, {});
  const uint32_t bad_len = 4;
  std::memcpy(bytes.data(), &bad_len, sizeof(bad_len));
  CollectingSink sink;
  ChunkStats stats;
  EXPECT_EQ(Decode(bytes, sink, stats).error().kind, ErrorKind::kInvalid);
}

TEST(InetDiagDecoder, UnknownFamilyAndTypeAreMalformed) {
  SocketSpec spec;
  spec.family = AF_UNIX;
  CollectingSink sink;
  ChunkStats stats;
  EXPECT_EQ(Decode(DiagMessage(kSeq, kPid, spec), sink, stats).error().kind, ErrorKind::kInvalid);
  auto odd = testing::Message(77, 0, kSeq, kPid, nullptr, 0);
  EXPECT_EQ(Decode(odd, sink, stats).error().kind, ErrorKind::kInvalid);
}

TEST(InetDiagDecoder, RecordsMustCarryTheRequestType) {
  // The legacy TCPDIAG_GETSOCK request is answered with records of type 18;
  // a record of the other request's type belongs to no request of ours.
  SocketSpec spec;
  spec.state = kEstablished;
  Bytes v2_record = DiagMessage(kSeq, kPid, spec);
  Bytes legacy_record = v2_record;
  RetypeRecords(legacy_record, TCPDIAG_GETSOCK);
  const DumpIdentity legacy{kSeq, kPid, TCPDIAG_GETSOCK};

  CollectingSink sink;
  ChunkStats stats;
  auto ok = DecodeDumpChunk(legacy_record, legacy, sink, stats);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(sink.records.size(), 1u);

  auto wrong = DecodeDumpChunk(v2_record, legacy, sink, stats);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().kind, ErrorKind::kInvalid);
  auto wrong_other_way = Decode(legacy_record, sink, stats);  // expects type 20
  ASSERT_FALSE(wrong_other_way.ok());
  EXPECT_EQ(wrong_other_way.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(sink.records.size(), 1u);
}

TEST(InetDiagDecoder, AttributeOverrunIsMalformed) {
  Bytes bytes = DiagMessage(kSeq, kPid, {});
  // Append an attribute header claiming more bytes than the message holds.
  nlattr attr{};
  attr.nla_len = 200;
  attr.nla_type = 1;
  Bytes with_attr = bytes;
  with_attr.resize(bytes.size() + sizeof(attr) + 4, 0);
  std::memcpy(with_attr.data() + bytes.size(), &attr, sizeof(attr));
  const uint32_t len = static_cast<uint32_t>(with_attr.size());
  std::memcpy(with_attr.data(), &len, sizeof(len));
  CollectingSink sink;
  ChunkStats stats;
  EXPECT_EQ(Decode(with_attr, sink, stats).error().kind, ErrorKind::kInvalid);
}

// A record with one attribute appended (the message length adjusted).
Bytes WithAttribute(const Bytes& message, uint16_t type, const std::vector<uint32_t>& values) {
  nlattr attr{};
  attr.nla_len = static_cast<uint16_t>(NLA_HDRLEN + values.size() * sizeof(uint32_t));
  attr.nla_type = type;
  Bytes out = message;
  out.resize(message.size() + NLA_ALIGN(attr.nla_len), 0);
  std::memcpy(out.data() + message.size(), &attr, sizeof(attr));
  std::memcpy(out.data() + message.size() + NLA_HDRLEN, values.data(),
              values.size() * sizeof(uint32_t));
  const uint32_t len = static_cast<uint32_t>(out.size());
  std::memcpy(out.data(), &len, sizeof(len));
  return out;
}

// INET_DIAG_SKMEMINFO is u32[SK_MEMINFO_VARS] (linux/sock_diag.h): the drops
// are at SK_MEMINFO_DROPS; an attribute too short to hold them (an older
// kernel) or another attribute leaves 0.
TEST(InetDiagDecoder, ListenerDropsFromSkMemInfo) {
  SocketSpec spec;
  spec.state = kListen;
  std::vector<uint32_t> meminfo(SK_MEMINFO_VARS, 7);
  meminfo[SK_MEMINFO_DROPS] = 42;
  CollectingSink sink;
  ChunkStats stats;
  ASSERT_TRUE(Decode(WithAttribute(DiagMessage(kSeq, kPid, spec), INET_DIAG_SKMEMINFO, meminfo),
                     sink, stats)
                  .ok());
  ASSERT_EQ(sink.records.size(), 1u);
  EXPECT_EQ(sink.records[0].drops, 42u);

  const std::vector<uint32_t> short_meminfo(SK_MEMINFO_DROPS, 9);
  ASSERT_TRUE(
      Decode(WithAttribute(DiagMessage(kSeq, kPid, spec), INET_DIAG_SKMEMINFO, short_meminfo), sink,
             stats)
          .ok());
  ASSERT_TRUE(
      Decode(WithAttribute(DiagMessage(kSeq, kPid, spec), INET_DIAG_MEMINFO, meminfo), sink, stats)
          .ok());
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[1].drops, 0u);
  EXPECT_EQ(sink.records[2].drops, 0u);
}

TEST(InetDiagDecoder, EmptyDatagramIsAnError) {
  CollectingSink sink;
  ChunkStats stats;
  EXPECT_FALSE(Decode({}, sink, stats).ok());
}

// Regression test (docs/reliability.md), found by fuzzing:
// strerror(-status) with status == INT_MIN negated INT_MIN (UB, reported by
// UBSan on the first fuzzing seconds). Must be an ordinary decode failure.
TEST(ReliabilityRegression, NlmsgErrorWithIntMinIsAnOrdinaryFailure) {
  CollectingSink sink;
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

}  // namespace
}  // namespace tcpstate

// Records travel from the decoder to the aggregator in runs (RecordSink::OnRecords,
// one datagram's worth) so the owner look-ups of a run overlap their cache misses
// (issue 16); these tests hold the runs to what one-by-one delivery did.
namespace tcpstate {
namespace runs {
using testing::Bytes;
using testing::DiagMessage;
using testing::DoneMessage;
using testing::SocketSpec;

constexpr uint32_t kSeq = 7;
constexpr uint32_t kPid = 99;

// Records what arrives, and how: OnRecord alone, or in runs.
class RunSink : public TableSink {
 public:
  void BeginAttempt() override {
    records.clear();
    runs.clear();
  }
  void OnRecord(const SocketRecord& r) override {
    records.push_back(r);
    ++single;
  }
  void OnRecords(std::span<const SocketRecord> run) override {
    runs.push_back(run.size());
    records.insert(records.end(), run.begin(), run.end());
  }
  std::vector<SocketRecord> records;
  std::vector<size_t> runs;
  size_t single = 0;
};

TEST(RecordRuns, DecoderHandsADatagramOnInRunsInDumpOrder) {
  Bytes datagram;
  for (uint32_t i = 1; i <= 150; ++i) {
    SocketSpec spec;
    spec.state = kEstablished;
    spec.inode = i;
    auto m = DiagMessage(kSeq, kPid, spec);
    datagram.insert(datagram.end(), m.begin(), m.end());
  }
  RunSink sink;
  ChunkStats stats;
  auto status = DecodeDumpChunk(datagram, DumpIdentity{kSeq, kPid}, sink, stats);
  ASSERT_TRUE(status.ok()) << status.error().message;
  EXPECT_EQ(sink.single, 0u);
  EXPECT_EQ(sink.runs, (std::vector<size_t>{64, 64, 22}));
  ASSERT_EQ(sink.records.size(), 150u);
  for (uint32_t i = 0; i < 150; ++i) EXPECT_EQ(sink.records[i].inode, i + 1);
  EXPECT_EQ(stats.records, 150u);
}

TEST(RecordRuns, RecordsBeforeAFailureStillReachTheSink) {
  Bytes datagram;
  for (uint32_t i = 1; i <= 3; ++i) {
    SocketSpec spec;
    spec.inode = i;
    auto m = DiagMessage(kSeq, kPid, spec);
    datagram.insert(datagram.end(), m.begin(), m.end());
  }
  auto foreign = DiagMessage(kSeq + 1, kPid, SocketSpec{});  // another dump's reply
  datagram.insert(datagram.end(), foreign.begin(), foreign.end());
  RunSink sink;
  ChunkStats stats;
  auto status = DecodeDumpChunk(datagram, DumpIdentity{kSeq, kPid}, sink, stats);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kUnexpected);
  ASSERT_EQ(sink.records.size(), 3u);
  EXPECT_EQ(sink.records[2].inode, 3u);
}

TEST(RecordRuns, StatesOutsideTheRequestSplitARunWithoutReordering) {
  // A replayed recording answers every request with every state: the filter
  // drops what was not asked for and passes the rest on in order.
  testing::ScriptedFactory factory([](uint8_t family, uint32_t, uint32_t seq) {
    Bytes datagram;
    const uint8_t states[] = {kEstablished, kListen, kEstablished, kEstablished,
                              kListen,      kListen, kEstablished};
    uint32_t inode = 0;
    for (uint8_t state : states) {
      SocketSpec spec;
      spec.family = family;
      spec.state = state;
      spec.local_port = 80;
      spec.remote_port = state == kListen ? 0 : 5000;
      spec.inode = ++inode;
      auto m = DiagMessage(seq, testing::kScriptedPortId, spec);
      datagram.insert(datagram.end(), m.begin(), m.end());
    }
    auto done = DoneMessage(seq, testing::kScriptedPortId);
    datagram.insert(datagram.end(), done.begin(), done.end());
    return std::vector<testing::Step>{{datagram}};
  });
  TcpTableReader reader(factory, 3, DumpStrategy::kPerFamily);
  RunSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  // Per family: the listener request keeps inodes 2, 5, 6; the other one
  // 1, 3, 4, 7. Each socket once, in dump order within its request.
  std::map<uint8_t, std::vector<uint32_t>> by_request;
  for (const auto& r : sink.records) by_request[r.state].push_back(r.inode);
  EXPECT_EQ(by_request[kListen], (std::vector<uint32_t>{2, 5, 6, 2, 5, 6}));
  EXPECT_EQ(by_request[kEstablished], (std::vector<uint32_t>{1, 3, 4, 7, 1, 3, 4, 7}));
  EXPECT_EQ(sink.single, 0u);
  for (size_t run : sink.runs) EXPECT_GT(run, 0u);
}

}  // namespace runs
}  // namespace tcpstate
