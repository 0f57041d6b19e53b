#include "aggregate/port_classifier.h"

#include "common/tcp_state.h"

namespace tcpstate {

const char* DirectionLabel(Direction direction) {
  return direction == Direction::kInbound ? "inbound" : "outbound";
}

PortClassifier::PortClassifier(const std::vector<PortRange>& include, PortRange ephemeral)
    : include_all_(include.empty()), ephemeral_(ephemeral) {
  for (const auto& range : include) {
    for (uint32_t port = range.low; port <= range.high; ++port) {
      included_.set(port);
    }
  }
}

PortClassifier::Classified PortClassifier::Classify(const SocketRecord& record) const {
  if (record.state == kListen || listening_.test(record.local_port)) {
    return {Direction::kInbound, Filter(record.local_port)};
  }
  const uint16_t remote = record.remote_port;
  // A remote port inside our own ephemeral range is almost always the client
  // side of a connection whose listener is gone: never a useful label value,
  // unless the operator named it explicitly.
  const bool explicitly_included = !include_all_ && included_.test(remote);
  if (!explicitly_included && remote >= ephemeral_.low && remote <= ephemeral_.high) {
    return {Direction::kOutbound, kPortEphemeral};
  }
  return {Direction::kOutbound, Filter(remote)};
}

}  // namespace tcpstate
