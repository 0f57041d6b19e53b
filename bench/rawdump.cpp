// rawdump: the floor for reading the TCP socket table through sock_diag.
//
// Sends exactly the requests the exporter sends (daemon/netlink/
// tcp_table_reader.cpp, DumpStrategy::kAuto on a kernel that has the legacy
// interface): two legacy TCPDIAG_GETSOCK requests (struct inet_diag_req,
// both families in one walk), LISTEN first, then every other state, no
// extensions, on one NETLINK_SOCK_DIAG socket per read, into the same 64 KiB
// receive buffer. It decodes nothing: it walks the netlink headers and
// counts the records. What is left is the kernel's work plus the copies to
// user space, i.e. what no exporter can go below.
//
// Usage: rawdump [--mode exporter|per-family|no-time-wait|v1-single] [--repeat N] [--quiet]
// Prints one line per read:
//   rawdump messages=<n> datagrams=<n> bytes=<n> seconds=<wall of the read>
// Exit status 1 on any netlink error.
//
// The other modes are floors of other ways to ask:
//   per-family    SOCK_DIAG_BY_FAMILY (inet_diag_req_v2) LISTEN of AF_INET,
//                 LISTEN of AF_INET6, then the rest of each family: the
//                 exporter's fallback, and what it did before the single walk
//                 (the kernel walks the shared socket hash once per family)
//   no-time-wait  the exporter's requests without TIME_WAIT in the state mask
//                 (TIME_WAIT counted from /proc/net/sockstat instead)
//   v1-single     ONE legacy request, all states (the kernel's walk puts the
//                 listeners first, but the exporter does not rely on that)

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr size_t kReceiveBufferSize = 64 * 1024;  // = TcpTableReader's
constexpr uint32_t kListenBit = 1U << 10;          // TCP_LISTEN
constexpr uint32_t kAllStates = 0xffffffffU;
constexpr uint32_t kTimeWaitBit = 1U << 6;  // TCP_TIME_WAIT

struct Counts {
  uint64_t messages = 0;
  uint64_t datagrams = 0;
  uint64_t bytes = 0;
};

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "rawdump: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

// One dump: returns false (after a message on stderr) on a netlink error.
// `legacy`: a v1 TCPDIAG_GETSOCK request (family ignored: both are dumped).
bool Dump(mnl_socket* nl, uint32_t portid, uint8_t family, uint32_t states, bool legacy,
          uint32_t seq, std::vector<uint8_t>& buffer, Counts& counts) {
  uint8_t request[MNL_ALIGN(sizeof(nlmsghdr)) + MNL_ALIGN(sizeof(inet_diag_req_v2)) +
                  MNL_ALIGN(sizeof(inet_diag_req))] = {};
  nlmsghdr* nlh = mnl_nlmsg_put_header(request);
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  uint16_t reply_type = SOCK_DIAG_BY_FAMILY;
  if (legacy) {
    nlh->nlmsg_type = reply_type = TCPDIAG_GETSOCK;
    auto* req = static_cast<inet_diag_req*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req)));
    req->idiag_family = AF_UNSPEC;  // ignored for dumps
    req->idiag_states = states;
  } else {
    nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    auto* req = static_cast<inet_diag_req_v2*>(
        mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
    req->sdiag_family = family;
    req->sdiag_protocol = IPPROTO_TCP;
    req->idiag_states = states;
  }
  if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) Die("sendto");

  for (;;) {
    const ssize_t got = mnl_socket_recvfrom(nl, buffer.data(), buffer.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      Die("recvfrom");
    }
    if (got == 0) {
      std::fprintf(stderr, "rawdump: socket closed before NLMSG_DONE\n");
      return false;
    }
    ++counts.datagrams;
    counts.bytes += static_cast<uint64_t>(got);
    auto* msg = reinterpret_cast<const nlmsghdr*>(buffer.data());
    int left = static_cast<int>(got);
    while (mnl_nlmsg_ok(msg, left)) {
      if (msg->nlmsg_seq != seq || msg->nlmsg_pid != portid) {
        std::fprintf(stderr, "rawdump: reply for another request\n");
        return false;
      }
      if (msg->nlmsg_type == reply_type) {
        ++counts.messages;
      } else if (msg->nlmsg_type == NLMSG_DONE) {
        return true;
      } else if (msg->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(msg));
        if (err->error != 0) {
          std::fprintf(stderr, "rawdump: NLMSG_ERROR %s\n", std::strerror(-err->error));
          return false;
        }
      }
      msg = mnl_nlmsg_next(msg, &left);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 1;
  bool quiet = false;
  std::string mode = "exporter";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--repeat" && i + 1 < argc) {
      repeat = std::atoi(argv[++i]);
    } else if (arg == "--mode" && i + 1 < argc) {
      mode = argv[++i];
    } else if (arg == "--quiet") {
      quiet = true;
    } else {
      std::fprintf(stderr,
                   "usage: rawdump [--mode exporter|per-family|no-time-wait|v1-single] "
                   "[--repeat N] "
                   "[--quiet]\n");
      return 2;
    }
  }
  if (repeat < 1 || repeat > 100000) {
    std::fprintf(stderr, "rawdump: --repeat must be 1..100000\n");
    return 2;
  }
  struct Request {
    uint8_t family;
    uint32_t states;
    bool legacy;
  };
  std::vector<Request> requests;
  if (mode == "exporter" || mode == "no-time-wait") {
    const uint32_t rest =
        kAllStates & ~kListenBit & (mode == "no-time-wait" ? ~kTimeWaitBit : kAllStates);
    requests = {{AF_UNSPEC, kListenBit, true}, {AF_UNSPEC, rest, true}};
  } else if (mode == "per-family") {
    const uint32_t rest = kAllStates & ~kListenBit;
    requests = {{AF_INET, kListenBit, false},
                {AF_INET6, kListenBit, false},
                {AF_INET, rest, false},
                {AF_INET6, rest, false}};
  } else if (mode == "v1-single") {
    requests = {{AF_UNSPEC, kAllStates, true}};
  } else {
    std::fprintf(stderr, "rawdump: unknown --mode %s\n", mode.c_str());
    return 2;
  }
  std::vector<uint8_t> buffer(kReceiveBufferSize);
  uint32_t seq = 1;
  for (int r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    // Like the exporter: one socket per read, same options.
    mnl_socket* nl = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
    if (nl == nullptr) Die("socket(NETLINK_SOCK_DIAG)");
    timeval timeout{.tv_sec = 10, .tv_usec = 0};
    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    int one = 1;
    (void)setsockopt(mnl_socket_get_fd(nl), SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one,
                     sizeof one);
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) Die("bind");
    const uint32_t portid = mnl_socket_get_portid(nl);
    Counts counts;
    for (const auto& request : requests) {
      if (!Dump(nl, portid, request.family, request.states, request.legacy, seq++, buffer,
                counts)) {
        mnl_socket_close(nl);
        return 1;
      }
    }
    mnl_socket_close(nl);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!quiet) {
      std::printf("rawdump messages=%llu datagrams=%llu bytes=%llu seconds=%.6f\n",
                  static_cast<unsigned long long>(counts.messages),
                  static_cast<unsigned long long>(counts.datagrams),
                  static_cast<unsigned long long>(counts.bytes), seconds);
    }
  }
  return 0;
}
