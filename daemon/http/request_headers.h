// Parsing of the request header values the endpoint acts on: whether the
// client accepts a gzip body (Prometheus sends "Accept-Encoding: gzip"; curl
// and browsers send their own lists, or nothing), and whether it wants its
// connection kept open.
#pragma once

#include <string_view>

namespace tcpstate {

// True if an Accept-Encoding value (RFC 9110 section 12.5.3) accepts gzip:
// "gzip" or "x-gzip" with a non-zero weight, or "*" with a non-zero weight
// when gzip is not listed. An empty value (or no header) accepts identity only.
bool AcceptsGzip(std::string_view accept_encoding);

// True if a comma-separated header value (e.g. Connection) lists `token`,
// compared case-insensitively.
bool HasToken(std::string_view value, std::string_view token);

}  // namespace tcpstate
