#include "http/listen_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

#include "common/unique_fd.h"

namespace tcpstate {
namespace {

struct AddrinfoFree {
  void operator()(addrinfo* list) const { freeaddrinfo(list); }
};

Error Bad(std::string_view text, const std::string& why) {
  return MakeError(ErrorKind::kInvalid, "listen address '" + std::string(text) + "': " + why);
}

}  // namespace

Result<ListenEndpoint> ParseListenAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return Bad(text, "needs a port, e.g. :9930, 127.0.0.1:9930 or [::1]:9930");
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);
  bool bracketed = false;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') return Bad(text, "unbalanced '['");
    host = host.substr(1, host.size() - 2);
    bracketed = true;
  } else if (host.find(':') != std::string_view::npos) {
    return Bad(text, "an IPv6 address must be bracketed, e.g. [::1]:9930");
  }
  if (host.find_first_of("[]") != std::string_view::npos) return Bad(text, "stray bracket");
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  // Port 0 (any free port) is for tests; configuration validation refuses it.
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return Bad(text, "the port must be a number 0-65535");
  }

  ListenEndpoint endpoint;
  endpoint.text = std::string(text);
  if (host.empty() || host == "::") {
    // Every address: one IPv6 socket that takes IPv4 too (as Go does).
    sockaddr_in6 any{};
    any.sin6_family = AF_INET6;
    any.sin6_addr = in6addr_any;
    any.sin6_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&endpoint.address, &any, sizeof any);
    endpoint.length = sizeof any;
    endpoint.dual_stack = true;
    return endpoint;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
  addrinfo* results = nullptr;
  const std::string host_string(host);
  const std::string port_string = std::to_string(port);
  const int rc = getaddrinfo(host_string.c_str(), port_string.c_str(), &hints, &results);
  const std::unique_ptr<addrinfo, AddrinfoFree> found(results);
  if (rc != 0 || found == nullptr) {
    return Bad(text, "'" + host_string + "' is not an IP address (" +
                         (rc == EAI_NONAME ? std::string("host names are not resolved")
                                           : std::string(gai_strerror(rc))) +
                         ")");
  }
  std::memcpy(&endpoint.address, found->ai_addr, found->ai_addrlen);
  endpoint.length = found->ai_addrlen;
  if (found->ai_family == AF_INET6 && !bracketed) {
    return Bad(text, "an IPv6 address must be bracketed, e.g. [::1]:9930");
  }
  return endpoint;
}

Status CheckListenAddress(std::string_view text, bool in_use_is_ok) {
  auto endpoint = ParseListenAddress(text);
  if (!endpoint.ok()) return endpoint.error();
  const UniqueFd listener(::socket(endpoint->address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const int fd = listener.get();
  if (!listener.valid()) return ErrnoError(errno, "cannot listen on " + std::string(text));
  const int on = 1;
  const int off = 0;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (endpoint->dual_stack) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  const int bound =
      ::bind(fd, reinterpret_cast<const sockaddr*>(&endpoint->address), endpoint->length);
  const int bind_errno = errno;
  if (bound == 0 || (bind_errno == EADDRINUSE && in_use_is_ok)) return OkStatus();
  return MakeError(ErrorKind::kSystem,
                   "cannot listen on " + std::string(text) + ": " + std::strerror(bind_errno) +
                       (bind_errno == EADDRNOTAVAIL ? " (not an address of this host)" : ""),
                   bind_errno);
}

}  // namespace tcpstate
