// The syscall side of sock_diag, behind an interface so tests and the replay
// mode can substitute it.
//
// Thread-safety: a transport belongs to one read on one thread; factories
// are called from one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

#include "common/result.h"

namespace tcpstate {

class NetlinkTransport {
 public:
  virtual ~NetlinkTransport() = default;
  // The port id replies are addressed to.
  virtual uint32_t PortId() const = 0;
  virtual Status Send(std::span<const uint8_t> message) = 0;
  // Receives one datagram from the kernel; 0 bytes means the peer closed
  // (EOF). A datagram larger than the buffer is an error (ENOSPC), never
  // silently truncated. Datagrams another process sent to our port id are
  // dropped and counted (foreign_datagrams()), as iproute2 does.
  virtual Result<size_t> Receive(std::span<uint8_t> buffer) = 0;
  // Bounds how long one Receive() may wait (EAGAIN after it); a transport
  // without a kernel behind it may ignore it.
  virtual void SetReceiveTimeout(std::chrono::milliseconds /*timeout*/) {}
  // Datagrams dropped because their sender was not the kernel (port id 0).
  virtual uint64_t foreign_datagrams() const { return 0; }
};

// Opens one transport per poll, so a failed dump never leaves stale replies
// for the next one.
class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  virtual Result<std::unique_ptr<NetlinkTransport>> Open() = 0;
};

// NETLINK_SOCK_DIAG through libmnl, in the caller's network namespace.
class MnlTransportFactory : public TransportFactory {
 public:
  Result<std::unique_ptr<NetlinkTransport>> Open() override;
};

}  // namespace tcpstate
