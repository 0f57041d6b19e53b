#include "common/tcp_state.h"

#include <array>
#include <charconv>

namespace tcpstate {
namespace {

constexpr std::array<std::string_view, kLastKnownState + 1> kNames = {
    "",      "established", "syn_sent", "syn_recv", "fin_wait1", "fin_wait2",    "time_wait",
    "close", "close_wait",  "last_ack", "listen",   "closing",   "new_syn_recv", "bound_inactive",
};

}  // namespace

std::string StateLabel(uint8_t state) {
  if (state >= 1 && state <= kLastKnownState) return std::string(kNames[state]);
  return "state_" + std::to_string(state);
}

bool ParseStateLabel(std::string_view label, uint8_t* state) {
  for (uint8_t s = 1; s <= kLastKnownState; ++s) {
    if (kNames[s] == label) {
      *state = s;
      return true;
    }
  }
  constexpr std::string_view kPrefix = "state_";
  if (label.substr(0, kPrefix.size()) != kPrefix) return false;
  unsigned value = 0;
  const char* begin = label.data() + kPrefix.size();
  const char* end = label.data() + label.size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end || begin == end || value == 0 || value > 31) {
    return false;
  }
  *state = static_cast<uint8_t>(value);
  return true;
}

bool StateCanHaveOwner(uint8_t state) { return state != kTimeWait && state != kNewSynRecv; }

}  // namespace tcpstate
