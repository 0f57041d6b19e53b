#include "netlink/inet_diag_request.h"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

namespace tcpstate {

uint8_t ListenerExtensions() { return 1U << (INET_DIAG_SKMEMINFO - 1); }

uint16_t RecordTypeFor(const DumpRequest& request) {
  return request.family == AF_UNSPEC ? TCPDIAG_GETSOCK : SOCK_DIAG_BY_FAMILY;
}

std::vector<uint8_t> BuildInetDiagDumpRequest(const DumpRequest& request, uint32_t seq) {
  const bool legacy = request.family == AF_UNSPEC;
  const size_t body = legacy ? sizeof(inet_diag_req) : sizeof(inet_diag_req_v2);
  std::vector<uint8_t> buffer(MNL_ALIGN(sizeof(nlmsghdr)) + MNL_ALIGN(body), 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer.data());
  nlh->nlmsg_type = RecordTypeFor(request);
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  // Extensions only where asked (the LISTEN request): counts need only the
  // fixed inet_diag_msg, and every extension costs the kernel work per socket.
  if (legacy) {
    auto* req = static_cast<inet_diag_req*>(mnl_nlmsg_put_extra_header(nlh, body));
    req->idiag_family = AF_UNSPEC;  // ignored by the kernel for dumps
    req->idiag_states = request.states;
    req->idiag_ext = request.extensions;
  } else {
    auto* req = static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, body));
    req->sdiag_family = request.family;
    req->sdiag_protocol = IPPROTO_TCP;
    req->idiag_states = request.states;
    req->idiag_ext = request.extensions;
  }
  buffer.resize(nlh->nlmsg_len);
  return buffer;
}

}  // namespace tcpstate
