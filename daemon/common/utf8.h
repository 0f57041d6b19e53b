#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tcpstate {

// Makes bytes safe as a Prometheus label value: every byte that does not
// start a valid UTF-8 sequence, and every control character, becomes one
// U+FFFD (so a 15-byte comm can grow to 45 bytes), and the result is cut to at most
// `max_bytes` on a character boundary. A process may name itself anything.
std::string SanitizeLabelValue(std::string_view raw, size_t max_bytes = 64);

}  // namespace tcpstate
