// The real kernel answers the single-walk legacy request and the per-family
// requests with the same sockets. Runs in a network namespace the test
// creates (needs CAP_SYS_ADMIN; skipped without it) and talks to loopback only.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "common/tcp_state.h"
#include "common/unique_fd.h"
#include "netlink/netlink_transport.h"
#include "netlink/tcp_table_reader.h"

namespace tcpstate {
namespace {

using Key = std::tuple<int, int, int, int, uint32_t>;  // family, state, lport, rport, inode

class KeySink : public TableSink {
 public:
  void BeginAttempt() override { keys.clear(); }
  void OnRecord(const SocketRecord& r) override {
    keys.emplace_back(r.family, r.state, r.local_port, r.remote_port, r.inode);
  }
  std::vector<Key> keys;
};

bool BringUpLoopback() {
  UniqueFd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return false;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(fd.get(), SIOCGIFFLAGS, &ifr) < 0) return false;
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  return ::ioctl(fd.get(), SIOCSIFFLAGS, &ifr) == 0;
}

// The loopback address of `family` with `port` (0: any).
socklen_t Loopback(int family, int port, sockaddr_storage& ss) {
  ss = {};
  if (family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin->sin_port = htons(static_cast<uint16_t>(port));
    return sizeof(*sin);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_addr = in6addr_loopback;
  sin6->sin6_port = htons(static_cast<uint16_t>(port));
  return sizeof(*sin6);
}

// A listener on loopback; returns its port.
int Listen(int family, std::vector<UniqueFd>& keep) {
  UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage ss;
  socklen_t len = Loopback(family, 0, ss);
  if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
      ::listen(fd.get(), 64) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return -1;
  }
  const int port = family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                     : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  keep.push_back(std::move(fd));
  return port;
}

// Connects to the listener and accepts: returns {client, server}.
std::pair<UniqueFd, UniqueFd> Connect(int family, int listener, int port) {
  UniqueFd client(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_storage ss;
  const socklen_t len = Loopback(family, port, ss);
  if (client.get() < 0 || ::connect(client.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    return {};
  }
  UniqueFd server(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  return {std::move(client), std::move(server)};
}

struct Outcome {
  std::string skip;
  std::string error;
  std::vector<Key> single_walk;
  std::vector<Key> per_family;
  bool single_walk_kept = false;
};

// Everything runs on one thread that unshared its network namespace: the
// test process's own namespace is never touched.
Outcome RunInFreshNamespace() {
  Outcome out;
  if (::unshare(CLONE_NEWNET) != 0) {
    out.skip = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    return out;
  }
  if (!BringUpLoopback()) {
    out.error = "cannot bring up lo";
    return out;
  }
  std::vector<UniqueFd> keep;
  for (int family : {AF_INET, AF_INET6}) {
    const int port = Listen(family, keep);
    if (port < 0) {
      out.error = "listen failed";
      return out;
    }
    const int listener = keep.back().get();
    Listen(family, keep);          // an idle second listener
    for (int i = 0; i < 3; ++i) {  // ESTABLISHED pairs
      auto [c, s] = Connect(family, listener, port);
      if (c.get() < 0 || s.get() < 0) {
        out.error = "connect failed";
        return out;
      }
      keep.push_back(std::move(c));
      keep.push_back(std::move(s));
    }
    for (int i = 0; i < 2; ++i) {  // server closes: client CLOSE_WAIT, server FIN_WAIT2
      auto [c, s] = Connect(family, listener, port);
      if (c.get() < 0 || s.get() < 0) {
        out.error = "connect failed";
        return out;
      }
      keep.push_back(std::move(c));
    }
    for (int i = 0; i < 2; ++i) {  // both close, server first: server TIME_WAIT
      auto [c, s] = Connect(family, listener, port);
      s.reset();
      ::usleep(2000);
      c.reset();
    }
  }
  ::usleep(20000);  // let the FINs settle on loopback

  MnlTransportFactory factory;
  for (auto strategy : {DumpStrategy::kSingleWalk, DumpStrategy::kPerFamily}) {
    TcpTableReader reader(factory, 3, strategy);
    KeySink sink;
    TableReadStats stats;
    if (auto status = reader.Read(sink, stats); !status.ok()) {
      out.error = status.error().message;
      return out;
    }
    std::sort(sink.keys.begin(), sink.keys.end());
    (strategy == DumpStrategy::kSingleWalk ? out.single_walk : out.per_family) = sink.keys;
  }
  TcpTableReader automatic(factory, 3);
  KeySink sink;
  TableReadStats stats;
  if (automatic.Read(sink, stats).ok()) out.single_walk_kept = automatic.single_walk();
  return out;
}

int Count(const std::vector<Key>& keys, int family, int state) {
  return static_cast<int>(std::count_if(keys.begin(), keys.end(), [&](const Key& k) {
    return std::get<0>(k) == family && std::get<1>(k) == state;
  }));
}

TEST(KernelDumpStrategies, SingleWalkAndPerFamilySeeTheSameSockets) {
  Outcome out;
  std::thread([&out] { out = RunInFreshNamespace(); }).join();
  if (!out.skip.empty()) GTEST_SKIP() << out.skip << " (needs CAP_SYS_ADMIN)";
  ASSERT_TRUE(out.error.empty()) << out.error;
  EXPECT_EQ(out.single_walk, out.per_family);
  EXPECT_TRUE(out.single_walk_kept) << "this kernel refused TCPDIAG_GETSOCK";
  for (int family : {AF_INET, AF_INET6}) {
    EXPECT_EQ(Count(out.single_walk, family, kListen), 2) << family;
    EXPECT_EQ(Count(out.single_walk, family, kEstablished), 6) << family;
    EXPECT_EQ(Count(out.single_walk, family, kCloseWait), 2) << family;
    EXPECT_EQ(Count(out.single_walk, family, kFinWait2), 2) << family;
    EXPECT_EQ(Count(out.single_walk, family, kTimeWait), 2) << family;
  }
}

}  // namespace
}  // namespace tcpstate
