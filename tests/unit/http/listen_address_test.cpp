// Listen addresses (http/listen_address.h) and the server on IPv6: dual
// stack for ":P" and "[::]:P", IPv6 loopback, several addresses at once.
#include "http/listen_address.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>

#include "http/http_server.h"
#include "metrics/snapshot_collectable.h"

namespace tcpstate {
namespace {

TEST(ListenAddress, Forms) {
  auto any = ParseListenAddress(":9930");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->address.ss_family, AF_INET6);
  EXPECT_TRUE(any->dual_stack);
  auto any6 = ParseListenAddress("[::]:9930");
  ASSERT_TRUE(any6.ok());
  EXPECT_TRUE(any6->dual_stack);
  auto v4 = ParseListenAddress("127.0.0.1:9930");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->address.ss_family, AF_INET);
  EXPECT_FALSE(v4->dual_stack);
  auto bracketed_v4 = ParseListenAddress("[10.0.0.5]:9930");  // "[$(HOST_IP)]:9930"
  ASSERT_TRUE(bracketed_v4.ok());
  EXPECT_EQ(bracketed_v4->address.ss_family, AF_INET);
  auto v6 = ParseListenAddress("[::1]:9930");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->address.ss_family, AF_INET6);
  EXPECT_FALSE(v6->dual_stack);
  auto zoned = ParseListenAddress("[fe80::1%lo]:9930");
  ASSERT_TRUE(zoned.ok()) << zoned.error().message;
  sockaddr_in6 in6{};
  std::memcpy(&in6, &zoned->address, sizeof in6);
  EXPECT_NE(in6.sin6_scope_id, 0u);
  EXPECT_EQ(ntohs(in6.sin6_port), 9930);
}

TEST(ListenAddress, ErrorsNameTheAddress) {
  for (const char* bad : {"9930", "fd00::5:9930", "::1:9930", "[::1:9930", "localhost:9930",
                          "127.0.0.1:", "127.0.0.1:70000", "[::1]:x"}) {
    auto parsed = ParseListenAddress(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.error().message.find(bad), std::string::npos) << parsed.error().message;
  }
}

TEST(ListenAddress, CheckBindsWithoutServing) {
  EXPECT_TRUE(CheckListenAddress("127.0.0.1:0", false).ok());
  auto foreign = CheckListenAddress("192.0.2.1:9930", false);  // TEST-NET-1: not ours
  ASSERT_FALSE(foreign.ok());
  EXPECT_NE(foreign.error().message.find("192.0.2.1:9930"), std::string::npos);
  EXPECT_NE(foreign.error().message.find("not an address of this host"), std::string::npos);
}

bool CanReach(int family, const char* address, int port) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{.tv_sec = 3, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, address, &in->sin_addr);
    length = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET6, address, &in6->sin6_addr);
    length = sizeof *in6;
  }
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0;
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ok = ok && ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
                 static_cast<ssize_t>(request.size());
  char reply[256] = {};
  ok = ok && ::recv(fd, reply, sizeof reply - 1, 0) > 0 &&
       std::string(reply).rfind("HTTP/1.1 200 OK\r\n", 0) == 0;
  ::close(fd);
  return ok;
}

bool HaveIpv6Loopback() { return CheckListenAddress("[::1]:0", false).ok(); }

TEST(HttpServerIpv6, WildcardIsDualStack) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  HttpServer server(std::make_shared<SnapshotCollectable>(), [] { return true; });
  Config::Web web;
  web.listen_address = ":0";
  ASSERT_TRUE(server.Start(web).ok());
  EXPECT_TRUE(CanReach(AF_INET, "127.0.0.1", server.Port()));
  EXPECT_TRUE(CanReach(AF_INET6, "::1", server.Port()));
}

TEST(HttpServerIpv6, LoopbackOnlyAndSeveralAddresses) {
  if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  HttpServer server(std::make_shared<SnapshotCollectable>(), [] { return true; });
  Config::Web web;
  web.listen_addresses = {"[::1]:0"};
  ASSERT_TRUE(server.Start(web).ok());
  EXPECT_TRUE(CanReach(AF_INET6, "::1", server.Port()));
  EXPECT_FALSE(CanReach(AF_INET, "127.0.0.1", server.Port()));
  server.Stop();

  HttpServer both(std::make_shared<SnapshotCollectable>(), [] { return true; });
  const int port = [] {
    HttpServer probe(std::make_shared<SnapshotCollectable>(), [] { return true; });
    Config::Web w;
    w.listen_address = "127.0.0.1:0";
    return probe.Start(w).ok() ? probe.Port() : 0;
  }();
  ASSERT_GT(port, 0);
  web.listen_addresses = {"127.0.0.1:" + std::to_string(port), "[::1]:" + std::to_string(port)};
  ASSERT_TRUE(both.Start(web).ok());
  EXPECT_TRUE(CanReach(AF_INET, "127.0.0.1", port));
  EXPECT_TRUE(CanReach(AF_INET6, "::1", port));
}

TEST(HttpServerIpv6, BadAddressFailsNamingIt) {
  HttpServer server(std::make_shared<SnapshotCollectable>(), [] { return true; });
  Config::Web web;
  web.listen_address = "192.0.2.1:9930";
  auto started = server.Start(web);
  ASSERT_FALSE(started.ok());
  EXPECT_NE(started.error().message.find("cannot listen on 192.0.2.1:9930"), std::string::npos)
      << started.error().message;
}

}  // namespace
}  // namespace tcpstate
