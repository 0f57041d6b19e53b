// Builds SOCK_DIAG_BY_FAMILY dump requests (linux/sock_diag.h,
// linux/inet_diag.h struct inet_diag_req_v2). Pure: no syscalls.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace tcpstate {

struct DumpRequest {
  uint8_t family = 0;   // AF_INET or AF_INET6
  uint32_t states = 0;  // bitmask of TcpState bits
};

// Returns the bytes of one netlink message asking for a TCP dump.
std::vector<uint8_t> BuildInetDiagDumpRequest(const DumpRequest& request, uint32_t seq);

}  // namespace tcpstate
