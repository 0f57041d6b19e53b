// The real sock_diag transport: replies are believed only from the kernel.
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>

#include "common/unique_fd.h"
#include "netlink/netlink_transport.h"
#include "support/netlink_builder.h"

namespace tcpstate {
namespace {

// Any process of a network namespace may unicast to another netlink socket
// of the same family, no privilege needed: a pod could feed fake records to
// the dump the exporter runs inside it.
TEST(MnlTransport, DropsDatagramsNotSentByTheKernel) {
  MnlTransportFactory factory;
  auto transport = factory.Open();
  ASSERT_TRUE(transport.ok()) << transport.error().message;
  (*transport)->SetReceiveTimeout(std::chrono::milliseconds(200));

  UniqueFd spoofer(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  ASSERT_TRUE(spoofer.valid()) << std::strerror(errno);
  sockaddr_nl self{};
  self.nl_family = AF_NETLINK;
  ASSERT_EQ(::bind(spoofer.get(), reinterpret_cast<sockaddr*>(&self), sizeof(self)), 0);
  // A well-formed NLMSG_DONE with the transport's port id and the first seq:
  // exactly what a forged end of dump looks like.
  const auto done = testing::DoneMessage(1, (*transport)->PortId());
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  to.nl_pid = (*transport)->PortId();
  ASSERT_EQ(::sendto(spoofer.get(), done.data(), done.size(), 0, reinterpret_cast<sockaddr*>(&to),
                     sizeof(to)),
            static_cast<ssize_t>(done.size()))
      << std::strerror(errno);

  std::array<uint8_t, 65536> buffer{};
  auto received = (*transport)->Receive(buffer);
  // Nothing from the kernel arrives (no request was sent): the receive times
  // out instead of handing over the forged datagram.
  ASSERT_FALSE(received.ok()) << "a datagram of " << *received
                              << " bytes from a process was accepted";
  EXPECT_TRUE(received.error().errnum == EAGAIN || received.error().errnum == EWOULDBLOCK)
      << received.error().message;
  EXPECT_EQ((*transport)->foreign_datagrams(), 1u);
}

TEST(MnlTransport, KernelRepliesStillArrive) {
  MnlTransportFactory factory;
  auto transport = factory.Open();
  ASSERT_TRUE(transport.ok()) << transport.error().message;
  (*transport)->SetReceiveTimeout(std::chrono::milliseconds(2000));
  // A malformed request: the kernel (port id 0) answers with NLMSG_ERROR.
  nlmsghdr request{};
  request.nlmsg_len = sizeof(request);
  request.nlmsg_type = 0x7fff;
  request.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.nlmsg_seq = 7;
  ASSERT_TRUE((*transport)
                  ->Send(std::span(reinterpret_cast<const uint8_t*>(&request), sizeof(request)))
                  .ok());
  std::array<uint8_t, 65536> buffer{};
  auto received = (*transport)->Receive(buffer);
  ASSERT_TRUE(received.ok()) << received.error().message;
  nlmsghdr reply{};
  std::memcpy(&reply, buffer.data(), sizeof(reply));
  EXPECT_EQ(reply.nlmsg_type, NLMSG_ERROR);
  EXPECT_EQ(reply.nlmsg_seq, 7u);
  EXPECT_EQ((*transport)->foreign_datagrams(), 0u);
}

}  // namespace
}  // namespace tcpstate
