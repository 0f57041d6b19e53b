#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "netlink/netlink_transport.h"

namespace tcpstate {
namespace {

struct MnlSocketCloser {
  void operator()(mnl_socket* socket) const { mnl_socket_close(socket); }
};

class MnlTransport : public NetlinkTransport {
 public:
  explicit MnlTransport(std::unique_ptr<mnl_socket, MnlSocketCloser> socket)
      : socket_(std::move(socket)), portid_(mnl_socket_get_portid(socket_.get())) {}

  uint32_t PortId() const override { return portid_; }

  Status Send(std::span<const uint8_t> message) override {
    for (int attempt = 0; attempt < 3; ++attempt) {
      const ssize_t sent = mnl_socket_sendto(socket_.get(), message.data(), message.size());
      if (sent == static_cast<ssize_t>(message.size())) return OkStatus();
      if (sent < 0 && errno == EINTR) continue;
      if (sent < 0) return ErrnoError(errno, "netlink sendto");
      return MakeError(ErrorKind::kInvalid, "netlink sendto: short write", EIO);
    }
    return ErrnoError(EINTR, "netlink sendto");
  }

  Result<size_t> Receive(std::span<uint8_t> buffer) override {
    // Bounded: neither a signal storm nor a local process flooding our port
    // id may pin the poll thread.
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      sockaddr_nl sender{};
      iovec iov{.iov_base = buffer.data(), .iov_len = buffer.size()};
      msghdr msg{};
      msg.msg_name = &sender;
      msg.msg_namelen = sizeof(sender);
      msg.msg_iov = &iov;
      msg.msg_iovlen = 1;
      const ssize_t got = ::recvmsg(mnl_socket_get_fd(socket_.get()), &msg, 0);
      if (got < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(errno, "netlink recvmsg");
      }
      // Any process of the namespace may send to our port id (unicast needs no
      // privilege), and a dump runs inside pods: only the kernel is believed.
      if (msg.msg_namelen != sizeof(sender) || sender.nl_family != AF_NETLINK ||
          sender.nl_pid != 0) {
        ++foreign_datagrams_;
        continue;
      }
      if ((msg.msg_flags & MSG_TRUNC) != 0) {
        return MakeError(ErrorKind::kTruncated, "netlink datagram larger than the receive buffer", ENOSPC);
      }
      return static_cast<size_t>(got);
    }
    return MakeError(ErrorKind::kSystem, "netlink recvmsg: interrupted or flooded by foreign datagrams " +
                            std::to_string(kMaxAttempts) + " times", EINTR);
  }

  void SetReceiveTimeout(std::chrono::milliseconds timeout) override {
    const auto ms = std::max<int64_t>(1, timeout.count());
    timeval tv{.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    (void)setsockopt(mnl_socket_get_fd(socket_.get()), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }

  uint64_t foreign_datagrams() const override { return foreign_datagrams_; }

 private:
  static constexpr int kMaxAttempts = 1024;
  std::unique_ptr<mnl_socket, MnlSocketCloser> socket_;
  uint32_t portid_;
  uint64_t foreign_datagrams_ = 0;
};

}  // namespace

Result<std::unique_ptr<NetlinkTransport>> MnlTransportFactory::Open() {
  std::unique_ptr<mnl_socket, MnlSocketCloser> socket(
      mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC));
  if (!socket) return ErrnoError(errno, "netlink socket(NETLINK_SOCK_DIAG)");
  const int fd = mnl_socket_get_fd(socket.get());
  // A kernel that stops answering must not hang the poller forever.
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0) {
    return ErrnoError(errno, "setsockopt(SO_RCVTIMEO)");
  }
  // Ask for strict checking of the request header where the kernel has it;
  // older kernels lack the option, which is harmless.
  int one = 1;
  (void)setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof(one));
  if (mnl_socket_bind(socket.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
    return ErrnoError(errno, "netlink bind");
  }
  return std::unique_ptr<NetlinkTransport>(std::make_unique<MnlTransport>(std::move(socket)));
}

}  // namespace tcpstate
