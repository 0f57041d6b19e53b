// Builds synthetic sock_diag replies for decoder and reader tests.
#pragma once

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <sys/socket.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace tcpstate::testing {

using Bytes = std::vector<uint8_t>;

struct SocketSpec {
  uint8_t family = AF_INET;
  uint8_t state = 1;
  uint16_t local_port = 0;
  uint16_t remote_port = 0;
  uint32_t local_v4 = 0x7f000001;  // host order
  uint32_t remote_v4 = 0x7f000001;
  uint32_t inode = 0;
  uint64_t cookie = 0;
  uint32_t rqueue = 0;
  uint32_t wqueue = 0;
};

inline Bytes Message(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid, const void* payload,
                     size_t len) {
  Bytes out(NLMSG_ALIGN(NLMSG_LENGTH(len)), 0);
  nlmsghdr hdr{};
  hdr.nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(len));
  hdr.nlmsg_type = type;
  hdr.nlmsg_flags = flags;
  hdr.nlmsg_seq = seq;
  hdr.nlmsg_pid = pid;
  std::memcpy(out.data(), &hdr, sizeof(hdr));
  if (len > 0) std::memcpy(out.data() + NLMSG_HDRLEN, payload, len);
  return out;
}

inline Bytes DiagMessage(uint32_t seq, uint32_t pid, const SocketSpec& s,
                         uint16_t flags = NLM_F_MULTI) {
  inet_diag_msg msg{};
  msg.idiag_family = s.family;
  msg.idiag_state = s.state;
  msg.id.idiag_sport = htons(s.local_port);
  msg.id.idiag_dport = htons(s.remote_port);
  if (s.family == AF_INET) {
    msg.id.idiag_src[0] = htonl(s.local_v4);
    msg.id.idiag_dst[0] = htonl(s.remote_v4);
  } else {
    msg.id.idiag_src[3] = htonl(1);  // ::1
    msg.id.idiag_dst[3] = htonl(1);
  }
  msg.id.idiag_cookie[0] = static_cast<uint32_t>(s.cookie);
  msg.id.idiag_cookie[1] = static_cast<uint32_t>(s.cookie >> 32);
  msg.idiag_inode = s.inode;
  msg.idiag_rqueue = s.rqueue;
  msg.idiag_wqueue = s.wqueue;
  return Message(SOCK_DIAG_BY_FAMILY, flags, seq, pid, &msg, sizeof(msg));
}

inline Bytes DoneMessage(uint32_t seq, uint32_t pid, int status = 0) {
  return Message(NLMSG_DONE, NLM_F_MULTI, seq, pid, &status, sizeof(status));
}

inline Bytes ErrorMessage(uint32_t seq, uint32_t pid, int error) {
  nlmsgerr err{};
  err.error = error;
  return Message(NLMSG_ERROR, 0, seq, pid, &err, sizeof(err));
}

// The kernel echoes the request's type in its records: makes the
// SOCK_DIAG_BY_FAMILY records in `bytes` answer a request of `type`
// (TCPDIAG_GETSOCK for the legacy one).
inline void RetypeRecords(Bytes& bytes, uint16_t type) {
  size_t off = 0;
  while (off + sizeof(nlmsghdr) <= bytes.size()) {
    nlmsghdr hdr;
    std::memcpy(&hdr, bytes.data() + off, sizeof(hdr));
    if (hdr.nlmsg_len < sizeof(hdr)) return;
    if (hdr.nlmsg_type == SOCK_DIAG_BY_FAMILY) {
      hdr.nlmsg_type = type;
      std::memcpy(bytes.data() + off, &hdr, sizeof(hdr));
    }
    off += NLMSG_ALIGN(hdr.nlmsg_len);
  }
}

inline Bytes Concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

}  // namespace tcpstate::testing
