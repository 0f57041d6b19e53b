#include "snapshot/snapshot.h"

#include <iterator>

namespace tcpstate {

std::string_view SourceName(Source source) {
  static constexpr std::string_view kNames[] = {"netstat", "process", "snmp", "sock_diag",
                                                "sysctl"};
  static_assert(std::size(kNames) == kSourceCount);
  return kNames[static_cast<size_t>(source)];
}

}  // namespace tcpstate
