// Escaping text for HTML: process names, pod names, addresses and paths that
// reach the landing and drill-down pages. Any of them may hold markup.
//
// Thread-safety: a free function without shared state.
#pragma once

#include <string>
#include <string_view>

namespace tcpstate {

// & < > " ' as entities: safe in element text and in quoted attributes.
std::string HtmlEscape(std::string_view text);

}  // namespace tcpstate
