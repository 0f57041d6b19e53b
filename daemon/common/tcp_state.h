// TCP states as numbered by the kernel (include/net/tcp_states.h). The uapi
// <netinet/tcp.h> enum stops at TCP_CLOSING; later states are listed here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tcpstate {

enum TcpState : uint8_t {
  kEstablished = 1,
  kSynSent = 2,
  kSynRecv = 3,
  kFinWait1 = 4,
  kFinWait2 = 5,
  kTimeWait = 6,
  kClose = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kListen = 10,
  kClosing = 11,
  kNewSynRecv = 12,     // request sockets, Linux 4.4+
  kBoundInactive = 13,  // bound but not listening/connected, Linux 6.5+
};

// Highest state number with a name; anything above is reported generically.
inline constexpr uint8_t kLastKnownState = kBoundInactive;

// Bitmask of every state, including ones a future kernel may add: the kernel
// ignores bits it does not know.
inline constexpr uint32_t kAllStatesMask = 0xffffffffU;
inline constexpr uint32_t StateBit(uint8_t state) { return 1U << state; }

// Label value: node_exporter's names ("close_wait"), "state_<n>" when unknown.
std::string StateLabel(uint8_t state);

// Parses a label value back to a state number; false when unknown.
bool ParseStateLabel(std::string_view label, uint8_t* state);

// True for states in which the socket can still be held by a process through
// a file descriptor (TIME_WAIT and NEW_SYN_RECV are kernel-only objects).
bool StateCanHaveOwner(uint8_t state);

}  // namespace tcpstate
