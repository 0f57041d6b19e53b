// One socket as decoded from an inet_diag message (linux/inet_diag.h,
// struct inet_diag_msg), in host byte order.
#pragma once

#include <array>
#include <cstdint>

namespace tcpstate {

struct SocketRecord {
  uint8_t family = 0;  // AF_INET or AF_INET6
  uint8_t state = 0;   // TcpState
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  // IPv4 addresses use the first 4 bytes; the rest is zero.
  std::array<uint8_t, 16> local_addr{};
  std::array<uint8_t, 16> remote_addr{};
  uint64_t cookie = 0;  // stable for the socket's lifetime
  uint32_t inode = 0;   // 0 when no process can own it (TIME_WAIT, orphans)
  uint32_t uid = 0;
  // For LISTEN: current accept queue and configured backlog.
  uint32_t rqueue = 0;
  uint32_t wqueue = 0;
  // SK_MEMINFO_DROPS of INET_DIAG_SKMEMINFO (linux/sock_diag.h), asked for
  // on listeners only; 0 when the attribute is absent.
  uint32_t drops = 0;
};

}  // namespace tcpstate
