#include "netlink/tcp_table_reader.h"

#include <gtest/gtest.h>

#include "common/tcp_state.h"
#include "support/scripted_transport.h"

namespace tcpstate {
namespace {

using testing::DiagMessage;
using testing::DoneMessage;
using testing::kScriptedPortId;
using testing::ScriptedFactory;
using testing::SocketSpec;
using testing::Step;

class RecordingSink : public TableSink {
 public:
  void BeginAttempt() override {
    ++attempts;
    records.clear();
  }
  void OnRecord(const SocketRecord& r) override { records.push_back(r); }
  int attempts = 0;
  std::vector<SocketRecord> records;
};

SocketSpec Spec(uint8_t state, uint16_t local, uint16_t remote) {
  SocketSpec s;
  s.state = state;
  s.local_port = local;
  s.remote_port = remote;
  return s;
}

// A kernel with one listener and one CLOSE_WAIT socket per family; a
// legacy request (AF_UNSPEC) is answered for both families at once.
std::vector<Step> SmallTable(uint8_t family, uint32_t states, uint32_t seq,
                             uint16_t extra_flags = 0) {
  std::vector<Step> steps;
  for (const uint8_t f : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    if (family != AF_UNSPEC && family != f) continue;
    auto listen = Spec(kListen, 80, 0);
    auto cw = Spec(kCloseWait, 40000, 443);
    listen.family = cw.family = f;
    const auto& spec = (states & StateBit(kListen)) ? listen : cw;
    steps.push_back({DiagMessage(seq, kScriptedPortId, spec, NLM_F_MULTI | extra_flags)});
  }
  steps.push_back({DoneMessage(seq, kScriptedPortId)});
  return steps;
}

TEST(TcpTableReader, ListenersOfBothFamiliesComeFirst) {
  ScriptedFactory factory([](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q); });
  TcpTableReader reader(factory, 3, DumpStrategy::kPerFamily);
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  ASSERT_EQ(sink.records.size(), 4u);
  EXPECT_EQ(sink.records[0].state, kListen);
  EXPECT_EQ(sink.records[1].state, kListen);
  EXPECT_EQ(sink.records[0].family, AF_INET);
  EXPECT_EQ(sink.records[1].family, AF_INET6);
  EXPECT_EQ(sink.records[2].state, kCloseWait);
  EXPECT_EQ(stats.records, 4u);
  EXPECT_EQ(factory.opens, 1);
  EXPECT_EQ(factory.sends, 4);
  EXPECT_EQ(factory.legacy_sends, 0);
}

TEST(TcpTableReader, SingleWalkAsksForBothFamiliesAtOnce) {
  ScriptedFactory factory([](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q); });
  TcpTableReader reader(factory, 3);  // kAuto
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  EXPECT_EQ(factory.legacy_sends, 2);  // listeners, then the rest
  EXPECT_EQ(factory.v2_sends, 0);
  ASSERT_EQ(sink.records.size(), 4u);
  EXPECT_EQ(sink.records[0].state, kListen);
  EXPECT_EQ(sink.records[1].state, kListen);
  EXPECT_NE(sink.records[0].family, sink.records[1].family);
  EXPECT_EQ(sink.records[2].state, kCloseWait);
  EXPECT_EQ(sink.records[3].state, kCloseWait);
  EXPECT_FALSE(stats.fell_back);
  EXPECT_TRUE(reader.single_walk());
}

// A kernel built without the legacy interface (sock_diag answers
// TCPDIAG_GETSOCK with EOPNOTSUPP when inet_diag's compat handler is absent).
std::vector<Step> NoLegacyKernel(uint8_t family, uint32_t states, uint32_t seq) {
  if (family == AF_UNSPEC) {
    return {{testing::ErrorMessage(seq, kScriptedPortId, -EOPNOTSUPP)}};
  }
  return SmallTable(family, states, seq);
}

TEST(TcpTableReader, RefusedSingleWalkFallsBackToPerFamilyForGood) {
  ScriptedFactory factory(NoLegacyKernel);
  TcpTableReader reader(factory, 3);  // kAuto
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  EXPECT_TRUE(stats.fell_back);
  EXPECT_NE(stats.fallback_error.find("Operation not supported"), std::string::npos)
      << stats.fallback_error;
  EXPECT_EQ(stats.retries, 0u);
  EXPECT_EQ(sink.records.size(), 4u);
  EXPECT_EQ(sink.attempts, 2);  // the refused attempt counted nothing
  EXPECT_EQ(factory.legacy_sends, 1);
  EXPECT_EQ(factory.v2_sends, 4);
  EXPECT_FALSE(reader.single_walk());
  // The next poll does not ask the legacy way again.
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  EXPECT_FALSE(stats.fell_back);
  EXPECT_EQ(factory.legacy_sends, 1);
  EXPECT_EQ(factory.v2_sends, 8);
}

TEST(TcpTableReader, ForcedSingleWalkDoesNotFallBack) {
  ScriptedFactory factory(NoLegacyKernel);
  TcpTableReader reader(factory, 3, DumpStrategy::kSingleWalk);
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_FALSE(reader.Read(sink, stats).ok());
  EXPECT_EQ(ReadFailureName(stats.failure.value()), "nlmsg_error");
  EXPECT_EQ(factory.v2_sends, 0);
}

TEST(TcpTableReader, ErrorAfterRecordsIsAFailureNotAFallback) {
  // Records were already counted: an error now is a failed dump, and falling
  // back would hide it.
  ScriptedFactory factory([](uint8_t family, uint32_t states, uint32_t seq) {
    auto steps = SmallTable(family, states, seq);
    if (family == AF_UNSPEC) {
      steps.back() = Step{testing::ErrorMessage(seq, kScriptedPortId, -ENOMEM)};
    }
    return steps;
  });
  TcpTableReader reader(factory, 3);
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_FALSE(reader.Read(sink, stats).ok());
  EXPECT_EQ(ReadFailureName(stats.failure.value()), "nlmsg_error");
  EXPECT_FALSE(stats.fell_back);
  EXPECT_EQ(factory.v2_sends, 0);
  EXPECT_TRUE(reader.single_walk());
}

TEST(TcpTableReader, SingleWalkDumpInterruptedIsRetried) {
  int calls = 0;
  ScriptedFactory factory([&calls](uint8_t f, uint32_t s, uint32_t q) {
    ++calls;  // the first attempt's two dumps are flagged
    return SmallTable(f, s, q, calls <= 2 ? NLM_F_DUMP_INTR : 0);
  });
  TcpTableReader reader(factory, 3);
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(sink.records.size(), 4u);
  EXPECT_EQ(factory.legacy_sends, 4);
}

TEST(TcpTableReader, StatesOutsideTheRequestAreDropped) {
  // A replayed recording answers every request with every state.
  ScriptedFactory factory([](uint8_t family, uint32_t, uint32_t seq) {
    auto listen = Spec(kListen, 80, 0);
    auto est = Spec(kEstablished, 80, 5000);
    listen.family = est.family = family;
    return std::vector<Step>{{testing::Concat({DiagMessage(seq, kScriptedPortId, listen),
                                               DiagMessage(seq, kScriptedPortId, est),
                                               DoneMessage(seq, kScriptedPortId)})}};
  });
  TcpTableReader reader(factory, 3, DumpStrategy::kPerFamily);
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  EXPECT_EQ(sink.records.size(), 4u);  // each socket once, not twice
}

TEST(TcpTableReader, DumpInterruptedIsRetriedThenSucceeds) {
  int calls = 0;
  ScriptedFactory factory([&calls](uint8_t f, uint32_t s, uint32_t q) {
    // The first attempt's four dumps are all flagged, later ones are clean.
    ++calls;
    return SmallTable(f, s, q, calls <= 4 ? NLM_F_DUMP_INTR : 0);
  });
  TcpTableReader reader(factory, 3, DumpStrategy::kPerFamily);
  RecordingSink sink;
  TableReadStats stats;
  ASSERT_TRUE(reader.Read(sink, stats).ok());
  EXPECT_EQ(stats.retries, 1u);
  EXPECT_EQ(sink.attempts, 2);
  EXPECT_EQ(sink.records.size(), 4u);  // the retried attempt started over
}

TEST(TcpTableReader, DumpInterruptedEveryTimeFailsAfterBoundedRetries) {
  ScriptedFactory factory(
      [](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q, NLM_F_DUMP_INTR); });
  TcpTableReader reader(factory, 2);
  RecordingSink sink;
  TableReadStats stats;
  auto status = reader.Read(sink, stats);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().kind, ErrorKind::kInterrupted);
  EXPECT_EQ(ReadFailureName(stats.failure.value()), "interrupted");
  EXPECT_EQ(stats.retries, 2u);
  EXPECT_EQ(factory.opens, 3);
}

struct FaultCase {
  const char* name;
  std::function<std::vector<Step>(uint32_t seq)> steps;
  const char* reason;
};

void PrintTo(const FaultCase& c, std::ostream* os) { *os << c.name; }

class TcpTableReaderFault : public ::testing::TestWithParam<FaultCase> {};

TEST_P(TcpTableReaderFault, FailsWithReason) {
  const FaultCase& c = GetParam();
  ScriptedFactory factory([&c](uint8_t, uint32_t, uint32_t seq) { return c.steps(seq); });
  TcpTableReader reader(factory, 3);
  RecordingSink sink;
  TableReadStats stats;
  auto status = reader.Read(sink, stats);
  ASSERT_FALSE(status.ok());
  ASSERT_TRUE(stats.failure.has_value());
  EXPECT_EQ(ReadFailureName(*stats.failure), c.reason) << status.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Faults, TcpTableReaderFault,
    ::testing::Values(
        FaultCase{"nlmsg_error",
                  [](uint32_t seq) {
                    return std::vector<Step>{{testing::ErrorMessage(seq, kScriptedPortId, -EPERM)}};
                  },
                  "nlmsg_error"},
        FaultCase{"done_error",
                  [](uint32_t seq) {
                    return std::vector<Step>{{DoneMessage(seq, kScriptedPortId, -ENOMEM)}};
                  },
                  "done_error"},
        FaultCase{"enobufs",
                  [](uint32_t) {
                    return std::vector<Step>{{{}, ENOBUFS}};
                  },
                  "recv"},
        FaultCase{"enospc",
                  [](uint32_t) {
                    return std::vector<Step>{{{}, ENOSPC}};
                  },
                  "truncated"},
        FaultCase{"eof_mid_dump",
                  [](uint32_t seq) {
                    return std::vector<Step>{
                        {DiagMessage(seq, kScriptedPortId, Spec(kListen, 80, 0))}, {{}, 0, true}};
                  },
                  "truncated"},
        FaultCase{"wrong_seq",
                  [](uint32_t seq) {
                    return std::vector<Step>{{DoneMessage(seq + 100, kScriptedPortId)}};
                  },
                  "sequence"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(TcpTableReader, SocketOpenFailure) {
  ScriptedFactory factory([](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q); });
  factory.fail_open = true;
  TcpTableReader reader(factory, 3);
  RecordingSink sink;
  TableReadStats stats;
  EXPECT_FALSE(reader.Read(sink, stats).ok());
  EXPECT_EQ(ReadFailureName(stats.failure.value()), "socket");
}

TEST(TcpTableReader, StopFlagCancels) {
  ScriptedFactory factory([](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q); });
  TcpTableReader reader(factory, 3);
  RecordingSink sink;
  TableReadStats stats;
  std::atomic<bool> stop{true};
  ReadOptions options;
  options.stop = &stop;
  auto status = reader.Read(sink, stats, options);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(ReadFailureName(stats.failure.value()), "cancelled");
}

TEST(TcpTableReader, PastTheDeadlineFailsWithItsOwnReason) {
  ScriptedFactory factory([](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q); });
  TcpTableReader reader(factory, 3);
  RecordingSink sink;
  TableReadStats stats;
  ReadOptions options;
  options.deadline = std::chrono::steady_clock::now() - std::chrono::milliseconds(1);
  auto status = reader.Read(sink, stats, options);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(ReadFailureName(stats.failure.value()), "deadline");
  EXPECT_EQ(status.error().kind, ErrorKind::kDeadline);
  EXPECT_TRUE(sink.records.empty());
}

TEST(TcpTableReader, ADeadlineAheadDoesNotDisturbTheRead) {
  ScriptedFactory factory([](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q); });
  TcpTableReader reader(factory, 3);
  RecordingSink sink;
  TableReadStats stats;
  ReadOptions options;
  options.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  ASSERT_TRUE(reader.Read(sink, stats, options).ok());
  EXPECT_EQ(sink.records.size(), 4u);
}

// TCP_BOUND_INACTIVE makes the kernel walk the bind hash every namespace
// shares: pod namespaces leave it out of the request.
// SK_MEMINFO_DROPS is asked for on the small LISTEN request only: the big
// dump of every other socket costs the kernel nothing more.
TEST(TcpTableReader, MemInfoOnTheListenerRequestOnly) {
  for (const auto strategy : {DumpStrategy::kSingleWalk, DumpStrategy::kPerFamily}) {
    ScriptedFactory factory([](uint8_t f, uint32_t s, uint32_t q) { return SmallTable(f, s, q); });
    TcpTableReader reader(factory, 3, strategy);
    RecordingSink sink;
    TableReadStats stats;
    ASSERT_TRUE(reader.Read(sink, stats).ok());
    ASSERT_FALSE(factory.requests.empty());
    for (const auto& [states, ext] : factory.requests) {
      if (states == StateBit(kListen)) {
        EXPECT_EQ(ext, 1U << (INET_DIAG_SKMEMINFO - 1));
      } else {
        EXPECT_EQ(ext, 0U) << states;
      }
    }
  }
}

TEST(TcpTableReader, BoundInactiveIsAskedForOnlyWhenWanted) {
  for (const bool wanted : {true, false}) {
    std::vector<uint32_t> masks;
    ScriptedFactory factory([&](uint8_t f, uint32_t s, uint32_t q) {
      masks.push_back(s);
      return SmallTable(f, s, q);
    });
    for (const auto strategy : {DumpStrategy::kSingleWalk, DumpStrategy::kPerFamily}) {
      masks.clear();
      TcpTableReader reader(factory, 3, strategy);
      RecordingSink sink;
      TableReadStats stats;
      ReadOptions options;
      options.bound_inactive = wanted;
      ASSERT_TRUE(reader.Read(sink, stats, options).ok());
      ASSERT_FALSE(masks.empty());
      bool any_bound_inactive = false;
      bool all_others = true;
      for (uint32_t mask : masks) {
        any_bound_inactive |= (mask & StateBit(kBoundInactive)) != 0;
        if (mask != StateBit(kListen)) {
          all_others &= (mask | StateBit(kListen) | StateBit(kBoundInactive)) == kAllStatesMask;
        }
      }
      EXPECT_EQ(any_bound_inactive, wanted);
      EXPECT_TRUE(all_others) << "every other state is still asked for";
    }
  }
}

}  // namespace
}  // namespace tcpstate
