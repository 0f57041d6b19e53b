// Builds sock_diag dump requests. Pure: no syscalls.
//  - per family: SOCK_DIAG_BY_FAMILY + struct inet_diag_req_v2
//    (linux/sock_diag.h, linux/inet_diag.h);
//  - both families at once: the legacy TCPDIAG_GETSOCK + struct inet_diag_req
//    (linux/inet_diag.h). The kernel turns it into a v2 request with
//    AF_UNSPEC (net/ipv4/inet_diag.c, inet_diag_dump_compat) and walks the
//    established hash once for IPv4 and IPv6 together instead of once per
//    family. That hash is shared by every network namespace, so the walk, not
//    our socket count, is most of a dump's cost.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <vector>

namespace tcpstate {

struct DumpRequest {
  uint8_t family = 0;   // AF_INET, AF_INET6, or AF_UNSPEC for both (legacy request)
  uint32_t states = 0;  // bitmask of TcpState bits
  // idiag_ext: bit (INET_DIAG_x - 1) asks for attribute INET_DIAG_x. Only the
  // small LISTEN request asks for any (kListenerExtensions).
  uint8_t extensions = 0;
};

// INET_DIAG_SKMEMINFO (linux/inet_diag.h): the listener's sk_drops, which
// tcp_listendrop() increments for every connection the listener drops.
uint8_t ListenerExtensions();

// The nlmsg_type the kernel stamps on the records answering `request`: it
// echoes the request's type.
uint16_t RecordTypeFor(const DumpRequest& request);

// Returns the bytes of one netlink message asking for a TCP dump.
std::vector<uint8_t> BuildInetDiagDumpRequest(const DumpRequest& request, uint32_t seq);

}  // namespace tcpstate
