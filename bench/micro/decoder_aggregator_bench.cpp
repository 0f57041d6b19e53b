// Micro-benchmarks of the user-space half of a poll, in ns per socket:
//   Decode          DecodeDumpChunk over kernel-sized datagrams, null sink
//   Aggregate*      PollAggregator::OnRecord for every socket + Finish()
//                   (no attribution; attribution with a warm owner cache; a
//                   cold one that reads every fd link of a fake /proc)
//   Pipeline        TcpTableReader (the exporter's requests, in-memory
//                   transport) + decoder + aggregator + Finish: a whole poll
//                   minus the kernel
//   Render          RenderSnapshot + text exposition of the resulting table
//
// The synthetic table has the shape of bench/run.sh's populations (sockpop
// over 127.0.0.0/8, IPv4): with scale S (the benchmark argument, in
// thousands of TIME_WAIT sockets)
//   LISTEN 1000 | ESTABLISHED 40k (20k client + 20k server ends)
//   CLOSE_WAIT 50k + FIN_WAIT2 50k | TIME_WAIT S*1000 (no owner)
// scaled down proportionally for the small argument (10: 12.8k sockets).
// Messages carry the attributes a 6.x kernel adds with idiag_ext = 0 (full
// sockets: shutdown, mark, cgroup id, sockopt; TIME_WAIT: mark). Messages are
// packed into 32 KiB datagrams like the kernel's dump skbs, non-LISTEN
// sockets in shuffled (hash-table-like) order.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "aggregate/close_wait_tracker.h"
#include "aggregate/poll_aggregator.h"
#include "common/tcp_state.h"
#include "config/config.h"
#include "metrics/render_snapshot.h"
#include "netlink/inet_diag_decoder.h"
#include "netlink/netlink_transport.h"
#include "netlink/tcp_table_reader.h"
#include "procfs/proc_owner_directory.h"
#include "snapshot/snapshot.h"

namespace tcpstate::bench {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kPortId = 4242;
constexpr size_t kDatagramSize = 32 * 1024;
constexpr uint16_t kBasePort = 20000;
constexpr int kOwnerProcesses = 10;
constexpr int kFirstPid = 1000;
const PortRange kEphemeral{32768, 60999};

struct Population {
  std::vector<SocketRecord> listen;  // dumped first, as the reader asks
  std::vector<SocketRecord> other;
  size_t size() const { return listen.size() + other.size(); }
};

// scale_k: thousands of TIME_WAIT sockets; 500 = the 500k+ population.
Population MakePopulation(int scale_k) {
  const double f = std::min(1.0, scale_k / 500.0);
  const auto n = [f](double full) { return static_cast<uint32_t>(full * f + 0.5); };
  const uint32_t listen = std::max<uint32_t>(3, n(1000));
  const uint32_t established = n(20'000);
  const uint32_t close_wait = n(50'000);
  const uint32_t time_wait = static_cast<uint32_t>(scale_k) * 1000;

  Population pop;
  uint32_t inode = 100'000;
  uint64_t cookie = 1;
  std::mt19937 rng(42);
  auto sock = [&](uint8_t state, uint8_t src_host, uint16_t lport, uint8_t dst_host, uint16_t rport,
                  bool owned) {
    SocketRecord r;
    r.family = AF_INET;
    r.state = state;
    r.local_port = lport;
    r.remote_port = rport;
    r.local_addr = {127, 0, 0, src_host};
    r.remote_addr = {127, 0, 0, dst_host};
    r.cookie = cookie++;
    r.inode = owned ? inode++ : 0;
    r.uid = 0;
    if (state == kListen) {
      r.rqueue = 0;
      r.wqueue = 4096;
    }
    return r;
  };
  for (uint32_t i = 0; i < listen; ++i) {
    pop.listen.push_back(
        sock(kListen, 1, static_cast<uint16_t>(kBasePort + (i < 3 ? i : 7 + i)), 0, 0, true));
  }
  uint32_t ephemeral = 32768;
  auto next_ephemeral = [&] {
    if (++ephemeral > 60999) ephemeral = 32768;
    return static_cast<uint16_t>(ephemeral);
  };
  for (uint32_t i = 0; i < established; ++i) {
    const auto src = static_cast<uint8_t>(1 + i % 41);
    const uint16_t port = next_ephemeral();
    pop.other.push_back(sock(kEstablished, src, port, 1, kBasePort, true));
    pop.other.push_back(sock(kEstablished, 1, kBasePort, src, port, true));
  }
  for (uint32_t i = 0; i < close_wait; ++i) {
    const auto src = static_cast<uint8_t>(1 + i % 41);
    const uint16_t port = next_ephemeral();
    pop.other.push_back(sock(kCloseWait, src, port, 1, kBasePort + 1, true));
    pop.other.push_back(sock(kFinWait2, 1, kBasePort + 1, src, port, true));
  }
  for (uint32_t i = 0; i < time_wait; ++i) {
    const auto src = static_cast<uint8_t>(1 + i % 41);
    pop.other.push_back(sock(kTimeWait, src, next_ephemeral(), 1, kBasePort + 2, false));
  }
  std::shuffle(pop.other.begin(), pop.other.end(), rng);
  return pop;
}

void PutAttr(Bytes& msg, uint16_t type, const void* data, uint16_t len) {
  nlattr attr{};
  attr.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  attr.nla_type = type;
  const size_t at = msg.size();
  msg.resize(at + NLA_ALIGN(attr.nla_len), 0);
  std::memcpy(msg.data() + at, &attr, sizeof attr);
  std::memcpy(msg.data() + at + NLA_HDRLEN, data, len);
}

Bytes EncodeMessage(const SocketRecord& r, uint32_t seq, uint16_t type) {
  inet_diag_msg msg{};
  msg.idiag_family = r.family;
  msg.idiag_state = r.state;
  msg.id.idiag_sport = htons(r.local_port);
  msg.id.idiag_dport = htons(r.remote_port);
  std::memcpy(msg.id.idiag_src, r.local_addr.data(), 4);
  std::memcpy(msg.id.idiag_dst, r.remote_addr.data(), 4);
  msg.id.idiag_cookie[0] = static_cast<uint32_t>(r.cookie);
  msg.id.idiag_cookie[1] = static_cast<uint32_t>(r.cookie >> 32);
  msg.idiag_inode = r.inode;
  msg.idiag_uid = r.uid;
  msg.idiag_rqueue = r.rqueue;
  msg.idiag_wqueue = r.wqueue;
  Bytes out(NLMSG_HDRLEN + sizeof msg, 0);
  std::memcpy(out.data() + NLMSG_HDRLEN, &msg, sizeof msg);
  // What a 6.x kernel sends a CAP_NET_ADMIN reader with idiag_ext = 0
  // (checked against `ss -D`): 124-byte messages for full sockets, 96 for
  // TIME_WAIT ones.
  const uint32_t mark = 0;
  if (r.state != kTimeWait) {
    const uint8_t shutdown = 0;
    const uint64_t cgroup = 1;
    const uint16_t sockopt = 0;
    PutAttr(out, 8 /* INET_DIAG_SHUTDOWN */, &shutdown, 1);
    PutAttr(out, 15 /* INET_DIAG_MARK */, &mark, 4);
    PutAttr(out, 21 /* INET_DIAG_CGROUP_ID */, &cgroup, 8);
    PutAttr(out, 22 /* INET_DIAG_SOCKOPT */, &sockopt, 2);
  } else {
    PutAttr(out, 15 /* INET_DIAG_MARK */, &mark, 4);
  }
  nlmsghdr hdr{};
  hdr.nlmsg_len = static_cast<uint32_t>(out.size());
  hdr.nlmsg_type = type;
  hdr.nlmsg_flags = NLM_F_MULTI;
  hdr.nlmsg_seq = seq;
  hdr.nlmsg_pid = kPortId;
  std::memcpy(out.data(), &hdr, sizeof hdr);
  return out;
}

Bytes DoneMessage(uint32_t seq) {
  Bytes out(NLMSG_ALIGN(NLMSG_LENGTH(sizeof(int))), 0);
  nlmsghdr hdr{};
  hdr.nlmsg_len = NLMSG_LENGTH(sizeof(int));
  hdr.nlmsg_type = NLMSG_DONE;
  hdr.nlmsg_flags = NLM_F_MULTI;
  hdr.nlmsg_seq = seq;
  hdr.nlmsg_pid = kPortId;
  std::memcpy(out.data(), &hdr, sizeof hdr);
  return out;
}

// One dump's datagrams (the last ends with NLMSG_DONE), stamped with `seq`;
// records carry the request's `type` (see DumpIdentity::record_type).
std::vector<Bytes> Datagrams(const std::vector<SocketRecord>& records, uint32_t seq,
                             uint16_t type = SOCK_DIAG_BY_FAMILY) {
  std::vector<Bytes> out(1);
  for (const auto& r : records) {
    Bytes msg = EncodeMessage(r, seq, type);
    if (out.back().size() + msg.size() > kDatagramSize) out.emplace_back();
    out.back().insert(out.back().end(), msg.begin(), msg.end());
  }
  Bytes done = DoneMessage(seq);
  if (out.back().size() + done.size() > kDatagramSize) out.emplace_back();
  out.back().insert(out.back().end(), done.begin(), done.end());
  return out;
}

// Populations are built once per scale and shared by every benchmark.
const Population& PopulationFor(int scale_k) {
  static std::map<int, std::unique_ptr<Population>> cache;
  auto& slot = cache[scale_k];
  if (!slot) slot = std::make_unique<Population>(MakePopulation(scale_k));
  return *slot;
}

class CountingSink : public TableSink {
 public:
  void BeginAttempt() override {}
  void OnRecord(const SocketRecord& r) override { sum += r.inode + r.state; }
  uint64_t sum = 0;
};

void SetPerSocket(benchmark::State& state, size_t sockets) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * sockets));
  state.counters["sockets"] = static_cast<double>(sockets);
  // Seconds per socket (shown as e.g. "25n" = 25 ns).
  state.counters["per_socket"] = benchmark::Counter(
      static_cast<double>(sockets),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// ---------------------------------------------------------------------------

void BM_Decode(benchmark::State& state) {
  const auto& pop = PopulationFor(static_cast<int>(state.range(0)));
  std::vector<SocketRecord> all = pop.listen;
  all.insert(all.end(), pop.other.begin(), pop.other.end());
  const auto datagrams = Datagrams(all, 7);
  const DumpIdentity identity{7, kPortId};
  CountingSink sink;
  for (auto _ : state) {
    ChunkStats stats;
    for (const auto& d : datagrams) {
      auto status = DecodeDumpChunk(d, identity, sink, stats);
      if (!status.ok()) state.SkipWithError(status.error().message.c_str());
    }
    benchmark::DoNotOptimize(sink.sum);
  }
  SetPerSocket(state, all.size());
}

// Runs one aggregation of the whole population.
SocketTable Aggregate(const Population& pop, const Config& config, OwnerDirectory* owners,
                      CloseWaitTracker& tracker, int64_t now_ms) {
  // The poller's protocol (daemon/poller/poller.cpp PollOnce).
  if (owners != nullptr) owners->BeginPoll();
  PollAggregator aggregator(config, kEphemeral, owners, tracker, now_ms);
  aggregator.BeginAttempt();
  for (const auto& r : pop.listen) aggregator.OnRecord(r);
  for (const auto& r : pop.other) aggregator.OnRecord(r);
  if (owners != nullptr) {
    std::vector<uint32_t> pending;
    aggregator.AppendPendingInodes(pending);
    if (!pending.empty()) owners->Resolve(pending);
  }
  SocketTable table = aggregator.Finish();
  if (owners != nullptr) owners->EndPoll();
  return table;
}

void BM_AggregateNoAttribution(benchmark::State& state) {
  const auto& pop = PopulationFor(static_cast<int>(state.range(0)));
  Config config;
  config.processes.enabled = false;
  CloseWaitTracker tracker(config.close_wait.max_tracked);
  int64_t now_ms = 1'000'000;
  for (auto _ : state) {
    auto table = Aggregate(pop, config, nullptr, tracker, now_ms += 15'000);
    benchmark::DoNotOptimize(table.total);
  }
  SetPerSocket(state, pop.size());
}

// The same with the drill-down pages off (pages.enabled: false): what
// gathering their rows costs (docs/http.md, "Memory"; the notes of issue 15).
void BM_AggregateNoAttributionPagesOff(benchmark::State& state) {
  const auto& pop = PopulationFor(static_cast<int>(state.range(0)));
  Config config;
  config.processes.enabled = false;
  config.pages.enabled = false;
  CloseWaitTracker tracker(config.close_wait.max_tracked);
  int64_t now_ms = 1'000'000;
  for (auto _ : state) {
    auto table = Aggregate(pop, config, nullptr, tracker, now_ms += 15'000);
    benchmark::DoNotOptimize(table.total);
  }
  SetPerSocket(state, pop.size());
}

// A fake /proc under /dev/shm (or $TMPDIR): kOwnerProcesses processes named
// "sockpop" sharing the owned sockets, one fd symlink each.
class FakeProc {
 public:
  explicit FakeProc(const Population& pop) {
    const std::filesystem::path base =
        std::filesystem::exists("/dev/shm") ? "/dev/shm" : std::filesystem::temp_directory_path();
    root_ = base / ("tcpstate-bench-proc-" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::vector<int> next_fd(kOwnerProcesses, 3);
    for (int p = 0; p < kOwnerProcesses; ++p) {
      const auto dir = root_ / std::to_string(kFirstPid + p);
      std::filesystem::create_directories(dir / "fd");
      std::string stat = std::to_string(kFirstPid + p) + " (sockpop) S";
      for (int field = 4; field <= 21; ++field) stat += " 0";
      stat += " 12345 0 0\n";
      std::ofstream(dir / "stat") << stat;
    }
    size_t i = 0;
    auto add = [&](const SocketRecord& r) {
      if (r.inode == 0) return;
      const int p = static_cast<int>(i++ % kOwnerProcesses);
      std::filesystem::create_symlink(
          "socket:[" + std::to_string(r.inode) + "]",
          root_ / std::to_string(kFirstPid + p) / "fd" / std::to_string(next_fd[p]++));
    };
    for (const auto& r : pop.listen) add(r);
    for (const auto& r : pop.other) add(r);
    owned_ = i;
  }
  ~FakeProc() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  size_t owned() const { return owned_; }

 private:
  std::filesystem::path root_;
  size_t owned_ = 0;
};

void BM_AggregateAttributionWarm(benchmark::State& state) {
  const auto& pop = PopulationFor(static_cast<int>(state.range(0)));
  FakeProc proc(pop);
  Config config;
  CloseWaitTracker tracker(config.close_wait.max_tracked);
  ProcOwnerDirectory owners(proc.root(), {});
  int64_t now_ms = 1'000'000;
  Aggregate(pop, config, &owners, tracker, now_ms);  // fills the cache
  const uint64_t fds_before = owners.stats().fds_read;
  for (auto _ : state) {
    auto table = Aggregate(pop, config, &owners, tracker, now_ms += 15'000);
    benchmark::DoNotOptimize(table.total);
  }
  state.counters["fds_read_per_poll"] = static_cast<double>(owners.stats().fds_read - fds_before) /
                                        static_cast<double>(state.iterations());
  SetPerSocket(state, pop.size());
}

void BM_AggregateAttributionCold(benchmark::State& state) {
  const auto& pop = PopulationFor(static_cast<int>(state.range(0)));
  FakeProc proc(pop);
  Config config;
  int64_t now_ms = 1'000'000;
  uint64_t fds = 0;
  for (auto _ : state) {
    CloseWaitTracker tracker(config.close_wait.max_tracked);
    ProcOwnerDirectory owners(proc.root(), {});
    auto table = Aggregate(pop, config, &owners, tracker, now_ms += 15'000);
    fds += owners.stats().fds_read;
    benchmark::DoNotOptimize(table.total);
  }
  state.counters["fds_read_per_poll"] =
      static_cast<double>(fds) / static_cast<double>(state.iterations());
  SetPerSocket(state, pop.size());
}

// The owner cache alone (procfs/proc_owner_directory): `range(0)` thousand
// owned sockets, all cached, looked up in dump (shuffled) order.
const Population& OwnedPopulation(int thousands) {
  static std::map<int, std::unique_ptr<Population>> cache;
  auto& slot = cache[thousands];
  if (!slot) {
    slot = std::make_unique<Population>();
    for (uint32_t i = 0; i < static_cast<uint32_t>(thousands) * 1000; ++i) {
      SocketRecord r;
      r.family = AF_INET;
      r.state = kEstablished;
      r.cookie = 1 + i;
      r.inode = 100'000 + i;
      slot->other.push_back(r);
    }
    std::shuffle(slot->other.begin(), slot->other.end(), std::mt19937(7));
  }
  return *slot;
}

// One cold poll that caches the owner of every owned socket; returns their inodes.
std::vector<uint32_t> CacheEveryOwner(ProcOwnerDirectory& owners, const auto& pop) {
  std::vector<uint32_t> inodes;
  for (const auto& r : pop.other) inodes.push_back(r.inode);
  owners.BeginPoll();
  owners.Resolve(inodes);
  owners.EndPoll();
  return inodes;
}

// Lookup() hits only: the cost of one cached socket's attribution.
void BM_OwnerCacheLookup(benchmark::State& state) {
  const auto& pop = OwnedPopulation(static_cast<int>(state.range(0)));
  FakeProc proc(pop);
  ProcOwnerDirectory owners(proc.root(), {});
  const std::vector<uint32_t> inodes = CacheEveryOwner(owners, pop);
  owners.BeginPoll();
  uint64_t found = 0;
  for (auto _ : state) {
    for (uint32_t inode : inodes) found += owners.Lookup(inode).has_value();
    benchmark::DoNotOptimize(found);
  }
  owners.EndPoll();
  if (found != state.iterations() * inodes.size()) state.SkipWithError("lookup missed");
  state.counters["cached"] = static_cast<double>(owners.cached_sockets());
  SetPerSocket(state, inodes.size());
}

// A warm poll's cache bookkeeping: BeginPoll, Lookup every socket, EndPoll.
void BM_OwnerCacheWarmPoll(benchmark::State& state) {
  const auto& pop = OwnedPopulation(static_cast<int>(state.range(0)));
  FakeProc proc(pop);
  ProcOwnerDirectory owners(proc.root(), {});
  const std::vector<uint32_t> inodes = CacheEveryOwner(owners, pop);
  uint64_t found = 0;
  for (auto _ : state) {
    owners.BeginPoll();
    for (uint32_t inode : inodes) found += owners.Lookup(inode).has_value();
    owners.EndPoll();
    benchmark::DoNotOptimize(found);
  }
  if (found != state.iterations() * inodes.size()) state.SkipWithError("lookup missed");
  SetPerSocket(state, inodes.size());
}

// CloseWaitTracker across polls: every socket observed again, then Commit.
void BM_CloseWaitTracker(benchmark::State& state) {
  const auto& pop = OwnedPopulation(static_cast<int>(state.range(0)));
  CloseWaitTracker tracker(1'000'000);
  int64_t now_ms = 1'000'000;
  int64_t sum = 0;
  for (auto _ : state) {
    tracker.Begin();
    now_ms += 15'000;
    for (const auto& r : pop.other) sum += tracker.Observe(r.cookie, now_ms);
    tracker.Commit();
    benchmark::DoNotOptimize(sum);
  }
  SetPerSocket(state, pop.other.size());
}

// Serves pre-encoded dumps from memory: LISTEN requests get the listeners,
// the others every other socket. Answers the legacy both-families request
// the reader sends (TCPDIAG_GETSOCK) and the per-family fallback (IPv6 then
// gets an empty dump: the population is IPv4).
class MemoryTransport : public NetlinkTransport {
 public:
  explicit MemoryTransport(const Population& pop) : pop_(pop) {}
  uint32_t PortId() const override { return kPortId; }
  Status Send(std::span<const uint8_t> message) override {
    nlmsghdr hdr;
    std::memcpy(&hdr, message.data(), sizeof hdr);
    const uint8_t* body = message.data() + NLMSG_HDRLEN;
    uint8_t family = AF_UNSPEC;
    uint32_t states = 0;
    if (hdr.nlmsg_type == TCPDIAG_GETSOCK) {
      inet_diag_req req;
      std::memcpy(&req, body, sizeof req);
      states = req.idiag_states;
    } else {
      inet_diag_req_v2 req;
      std::memcpy(&req, body, sizeof req);
      family = req.sdiag_family;
      states = req.idiag_states;
    }
    static const std::vector<SocketRecord> kNone;
    const auto& records = family == AF_INET6            ? kNone
                          : states == StateBit(kListen) ? pop_.listen
                                                        : pop_.other;
    // Encoding is not the exporter's work: cache it per (records, seq, type).
    auto& cached = cache_[{&records, hdr.nlmsg_seq, hdr.nlmsg_type}];
    if (cached.empty()) cached = Datagrams(records, hdr.nlmsg_seq, hdr.nlmsg_type);
    current_ = &cached;
    next_ = 0;
    return OkStatus();
  }
  Result<size_t> Receive(std::span<uint8_t> buffer) override {
    if (current_ == nullptr || next_ >= current_->size())
      return MakeError(ErrorKind::kInvalid, "no dump", EIO);
    const Bytes& d = (*current_)[next_++];
    std::memcpy(buffer.data(), d.data(), d.size());
    return d.size();
  }

 private:
  const Population& pop_;
  std::map<std::tuple<const void*, uint32_t, uint16_t>, std::vector<Bytes>> cache_;
  const std::vector<Bytes>* current_ = nullptr;
  size_t next_ = 0;
};

class MemoryTransportFactory : public TransportFactory {
 public:
  explicit MemoryTransportFactory(const Population& pop) : transport_(pop) {}
  Result<std::unique_ptr<NetlinkTransport>> Open() override {
    // The reader owns what Open returns: hand out a forwarding wrapper.
    struct Forward : NetlinkTransport {
      explicit Forward(MemoryTransport& target) : t(target) {}
      uint32_t PortId() const override { return t.PortId(); }
      Status Send(std::span<const uint8_t> m) override { return t.Send(m); }
      Result<size_t> Receive(std::span<uint8_t> b) override { return t.Receive(b); }
      MemoryTransport& t;
    };
    return std::unique_ptr<NetlinkTransport>(std::make_unique<Forward>(transport_));
  }

 private:
  MemoryTransport transport_;
};

void BM_PipelineNoAttribution(benchmark::State& state) {
  const auto& pop = PopulationFor(static_cast<int>(state.range(0)));
  Config config;
  config.processes.enabled = false;
  CloseWaitTracker tracker(config.close_wait.max_tracked);
  MemoryTransportFactory factory(pop);
  // A fresh reader per poll, like the poller after a reload; seqs repeat
  // every poll so the encoded dumps are built once (warm-up run).
  int64_t now_ms = 1'000'000;
  auto poll = [&] {
    TcpTableReader reader(factory, 3);
    PollAggregator aggregator(config, kEphemeral, nullptr, tracker, now_ms += 15'000);
    TableReadStats stats;
    auto status = reader.Read(aggregator, stats);
    if (!status.ok()) state.SkipWithError(status.error().message.c_str());
    // Fails instead of timing an empty read if the transport stops
    // understanding the reader's requests.
    if (stats.records != pop.size()) state.SkipWithError("pipeline read the wrong socket count");
    return aggregator.Finish();
  };
  poll();
  for (auto _ : state) {
    auto table = poll();
    benchmark::DoNotOptimize(table.total);
  }
  SetPerSocket(state, pop.size());
}

void BM_RenderAndSerialize(benchmark::State& state) {
  const auto& pop = PopulationFor(static_cast<int>(state.range(0)));
  FakeProc proc(pop);
  Config config;
  CloseWaitTracker tracker(config.close_wait.max_tracked);
  ProcOwnerDirectory owners(proc.root(), {});
  Snapshot snapshot;
  TargetData target;  // host mode: one target without labels
  target.sockets =
      std::make_shared<const SocketTable>(Aggregate(pop, config, &owners, tracker, 1'000'000));
  snapshot.targets.push_back(std::move(target));
  size_t bytes = 0;
  size_t series = 0;
  for (auto _ : state) {
    auto families = RenderSnapshot(snapshot);
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, families);
    bytes = out.str().size();
    series = 0;
    for (const auto& f : families) series += f.metric.size();
  }
  state.counters["series"] = static_cast<double>(series);
  state.counters["bytes"] = static_cast<double>(bytes);
}

// Arguments: thousands of TIME_WAIT sockets (10: 12.8k sockets in total;
// 500: the 500k+ population, 641k sockets).
BENCHMARK(BM_Decode)->Arg(10)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AggregateNoAttribution)->Arg(10)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AggregateNoAttributionPagesOff)->Arg(10)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AggregateAttributionWarm)->Arg(10)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AggregateAttributionCold)->Arg(10)->Arg(500)->Unit(benchmark::kMillisecond);
// Owner cache and tracker: thousands of owned sockets (CLOSE_WAIT for the
// tracker; 50 = the 500k+ population's).
BENCHMARK(BM_OwnerCacheLookup)->Arg(10)->Arg(200)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_OwnerCacheWarmPoll)->Arg(10)->Arg(200)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CloseWaitTracker)->Arg(10)->Arg(50)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PipelineNoAttribution)->Arg(10)->Arg(500)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RenderAndSerialize)->Arg(500)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tcpstate::bench

BENCHMARK_MAIN();
