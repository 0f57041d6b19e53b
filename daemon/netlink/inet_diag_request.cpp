#include "netlink/inet_diag_request.h"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include <cstring>

namespace tcpstate {

std::vector<uint8_t> BuildInetDiagDumpRequest(const DumpRequest& request, uint32_t seq) {
  std::vector<uint8_t> buffer(MNL_ALIGN(sizeof(nlmsghdr)) + MNL_ALIGN(sizeof(inet_diag_req_v2)), 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buffer.data());
  nlh->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  auto* req =
      static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(nlh, sizeof(inet_diag_req_v2)));
  req->sdiag_family = request.family;
  req->sdiag_protocol = IPPROTO_TCP;
  req->idiag_states = request.states;
  // No extensions: counts need only the fixed inet_diag_msg, and every
  // extension costs the kernel work per socket.
  req->idiag_ext = 0;
  buffer.resize(nlh->nlmsg_len);
  return buffer;
}

}  // namespace tcpstate
