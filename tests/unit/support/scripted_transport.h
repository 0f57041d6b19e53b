// A TransportFactory whose replies are scripted per request: the seam where
// netlink faults are injected.
#pragma once

#include <linux/inet_diag.h>
#include <linux/netlink.h>

#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "netlink/netlink_transport.h"
#include "support/netlink_builder.h"

namespace tcpstate::testing {

constexpr uint32_t kScriptedPortId = 555;

// One reply step: a datagram, or an errno from recv (0 bytes means EOF).
struct Step {
  Bytes datagram;
  int recv_errno = 0;
  bool eof = false;
};

// Given the request (family, states) and its seq, returns the reply steps.
// family is AF_UNSPEC for the legacy single-walk request.
using Script = std::function<std::vector<Step>(uint8_t family, uint32_t states, uint32_t seq)>;

class ScriptedTransport : public NetlinkTransport {
 public:
  ScriptedTransport(Script script, int* sends, int* legacy_sends, int* v2_sends)
      : script_(std::move(script)),
        sends_(sends),
        legacy_sends_(legacy_sends),
        v2_sends_(v2_sends) {}
  uint32_t PortId() const override { return kScriptedPortId; }
  Status Send(std::span<const uint8_t> message) override {
    nlmsghdr hdr;
    std::memcpy(&hdr, message.data(), sizeof(hdr));
    std::vector<Step> steps;
    if (hdr.nlmsg_type == TCPDIAG_GETSOCK) {
      // Legacy request: both families (AF_UNSPEC), answered with records of
      // its own type.
      inet_diag_req req;
      std::memcpy(&req, message.data() + NLMSG_HDRLEN, sizeof(req));
      steps = script_(AF_UNSPEC, req.idiag_states, hdr.nlmsg_seq);
      if (requests_ != nullptr) requests_->push_back({req.idiag_states, req.idiag_ext});
      for (auto& step : steps) RetypeRecords(step.datagram, TCPDIAG_GETSOCK);
      ++*legacy_sends_;
    } else {
      inet_diag_req_v2 req;
      std::memcpy(&req, message.data() + NLMSG_HDRLEN, sizeof(req));
      steps = script_(req.sdiag_family, req.idiag_states, hdr.nlmsg_seq);
      if (requests_ != nullptr) requests_->push_back({req.idiag_states, req.idiag_ext});
      ++*v2_sends_;
    }
    steps_.assign(steps.begin(), steps.end());
    ++*sends_;
    return OkStatus();
  }
  Result<size_t> Receive(std::span<uint8_t> buffer) override {
    if (steps_.empty()) return MakeError(ErrorKind::kSystem, "script exhausted", EAGAIN);
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
  int* legacy_sends_;
  int* v2_sends_;
  std::deque<Step> steps_;

 public:
  // (idiag_states, idiag_ext) of every request sent, when set.
  std::vector<std::pair<uint32_t, uint8_t>>* requests_ = nullptr;
};

class ScriptedFactory : public TransportFactory {
 public:
  explicit ScriptedFactory(Script script) : script_(std::move(script)) {}
  Result<std::unique_ptr<NetlinkTransport>> Open() override {
    ++opens;
    if (fail_open) return ErrnoError(EMFILE, "scripted socket");
    auto transport = std::make_unique<ScriptedTransport>(script_, &sends, &legacy_sends, &v2_sends);
    transport->requests_ = &requests;
    return std::unique_ptr<NetlinkTransport>(std::move(transport));
  }
  void set_script(Script script) { script_ = std::move(script); }
  int opens = 0;
  int sends = 0;
  int legacy_sends = 0;  // TCPDIAG_GETSOCK requests
  int v2_sends = 0;      // SOCK_DIAG_BY_FAMILY requests
  bool fail_open = false;
  std::vector<std::pair<uint32_t, uint8_t>> requests;  // (idiag_states, idiag_ext)

 private:
  Script script_;
};

}  // namespace tcpstate::testing
