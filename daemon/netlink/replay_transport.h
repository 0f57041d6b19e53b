// Replays recorded sock_diag dumps (the raw datagrams `ss -D FILE` writes) as
// if the kernel sent them: the golden test and --netlink.replay-dir use it.
#pragma once

#include <filesystem>

#include "netlink/netlink_transport.h"

namespace tcpstate {

// Serves `<dir>/inet.bin` for AF_INET requests and `<dir>/inet6.bin` for
// AF_INET6 ones (a missing file replays an empty dump). Each reply message is
// stamped with the request's seq and the transport's port id, as the kernel
// would do.
class ReplayTransportFactory : public TransportFactory {
 public:
  explicit ReplayTransportFactory(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Result<std::unique_ptr<NetlinkTransport>> Open() override;

 private:
  std::filesystem::path dir_;
};

}  // namespace tcpstate
