// Listen addresses of the HTTP endpoint, in the forms Go's net.Listen takes
// (as node_exporter's --web.listen-address):
//
//   ":9930", "[::]:9930"       every address, IPv4 and IPv6 (one dual-stack
//                              socket, IPV6_V6ONLY off)
//   "0.0.0.0:9930"             every IPv4 address
//   "127.0.0.1:9930"           one IPv4 address
//   "[::1]:9930"               one IPv6 address
//   "[fe80::1%eth0]:9930"      a link-local IPv6 address with its zone
//   "[10.0.0.5]:9930"          brackets around IPv4 are accepted too (Go's
//                              SplitHostPort strips them), so one argument,
//                              "[$(HOST_IP)]:9930", works whatever the node's
//                              address family (deploy/kubernetes).
//
// An unbracketed IPv6 address ("fd00::5:9930") is refused: whether the last
// group is a port cannot be told. Host names are refused too: the endpoint
// binds addresses, not names. Pure functions, thread-safe.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

#include "common/result.h"

namespace tcpstate {

struct ListenEndpoint {
  std::string text;  // as given, for messages
  sockaddr_storage address{};
  socklen_t length = 0;
  bool dual_stack = false;  // an IPv6 wildcard that also takes IPv4
};

// Parses (does not bind). Errors name the address and what is wrong.
Result<ListenEndpoint> ParseListenAddress(std::string_view text);

// Parses, then binds a throwaway socket the way the server does (without
// listening) and closes it: "not an address of this host" and "permission
// denied" show here. An address in use counts as usable when
// `in_use_is_ok` (a running exporter may hold it while a new configuration
// is checked).
Status CheckListenAddress(std::string_view text, bool in_use_is_ok);

}  // namespace tcpstate
