// Turns a socket into the (direction, port) pair an SRE thinks in: a socket
// whose local port is listening in the same namespace is inbound and named by
// that port; any other is outbound and named by the remote port. Ephemeral
// ports never become label values.
#pragma once

#include <bitset>
#include <cstdint>
#include <vector>

#include "config/config.h"
#include "netlink/socket_record.h"

namespace tcpstate {

enum class Direction : uint8_t { kInbound = 0, kOutbound = 1 };
const char* DirectionLabel(Direction direction);

// A port label before the distinct-value cap: 0..65535 or one of these.
using PortKey = uint32_t;
inline constexpr PortKey kPortEphemeral = 65536;
inline constexpr PortKey kPortOther = 65537;

class PortClassifier {
 public:
  PortClassifier(const std::vector<PortRange>& include, PortRange ephemeral);

  void AddListeningPort(uint16_t port) { listening_.set(port); }
  bool IsListening(uint16_t port) const { return listening_.test(port); }

  struct Classified {
    Direction direction;
    PortKey port;
  };
  Classified Classify(const SocketRecord& record) const;

  // Applies the include list to a port we know is a service port.
  PortKey Filter(uint16_t port) const {
    return include_all_ || included_.test(port) ? PortKey{port} : kPortOther;
  }

 private:
  std::bitset<65536> listening_;
  std::bitset<65536> included_;
  bool include_all_;
  PortRange ephemeral_;
};

}  // namespace tcpstate
