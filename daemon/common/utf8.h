#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tcpstate {

// Makes bytes safe as a Prometheus label value: invalid UTF-8 sequences and
// control characters become U+FFFD, and the result is cut to at most
// `max_bytes` on a character boundary. A process may name itself anything.
std::string SanitizeLabelValue(std::string_view raw, size_t max_bytes = 64);

}  // namespace tcpstate
