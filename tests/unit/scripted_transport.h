// A TransportFactory whose replies are scripted per request: the seam where
// netlink faults are injected.
#pragma once

#include <linux/inet_diag.h>
#include <linux/netlink.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>

#include "netlink/netlink_transport.h"
#include "netlink_builder.h"

namespace tcpstate::testing {

constexpr uint32_t kScriptedPortId = 555;

// One reply step: a datagram, or an errno from recv (0 bytes means EOF).
struct Step {
  Bytes datagram;
  int recv_errno = 0;
  bool eof = false;
};

// Given the request (family, states) and its seq, returns the reply steps.
using Script = std::function<std::vector<Step>(uint8_t family, uint32_t states, uint32_t seq)>;

class ScriptedTransport : public NetlinkTransport {
 public:
  ScriptedTransport(Script script, int* sends) : script_(std::move(script)), sends_(sends) {}
  uint32_t PortId() const override { return kScriptedPortId; }
  Status Send(std::span<const uint8_t> message) override {
    nlmsghdr hdr;
    std::memcpy(&hdr, message.data(), sizeof(hdr));
    inet_diag_req_v2 req;
    std::memcpy(&req, message.data() + NLMSG_HDRLEN, sizeof(req));
    auto steps = script_(req.sdiag_family, req.idiag_states, hdr.nlmsg_seq);
    steps_.assign(steps.begin(), steps.end());
    ++*sends_;
    return OkStatus();
  }
  Result<size_t> Receive(std::span<uint8_t> buffer) override {
    if (steps_.empty()) return Error{EAGAIN, "script exhausted"};
    Step step = std::move(steps_.front());
    steps_.pop_front();
    if (step.recv_errno != 0) return ErrnoError(step.recv_errno, "scripted recv");
    if (step.eof) return size_t{0};
    if (step.datagram.size() > buffer.size()) return ErrnoError(ENOSPC, "scripted recv");
    std::memcpy(buffer.data(), step.datagram.data(), step.datagram.size());
    return step.datagram.size();
  }

 private:
  Script script_;
  int* sends_;
  std::deque<Step> steps_;
};

class ScriptedFactory : public TransportFactory {
 public:
  explicit ScriptedFactory(Script script) : script_(std::move(script)) {}
  Result<std::unique_ptr<NetlinkTransport>> Open() override {
    ++opens;
    if (fail_open) return ErrnoError(EMFILE, "scripted socket");
    return std::unique_ptr<NetlinkTransport>(std::make_unique<ScriptedTransport>(script_, &sends));
  }
  void set_script(Script script) { script_ = std::move(script); }
  int opens = 0;
  int sends = 0;
  bool fail_open = false;

 private:
  Script script_;
};

}  // namespace tcpstate::testing
