#include "http/request_headers.h"

#include <algorithm>
#include <cctype>
#include <optional>

namespace tcpstate {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// Splits off the first element of a list separated by `separator`.
std::string_view NextElement(std::string_view& list, char separator) {
  const size_t end = list.find(separator);
  const std::string_view element = list.substr(0, end);
  list = end == std::string_view::npos ? std::string_view() : list.substr(end + 1);
  return element;
}

// Whether an element's parameters ("q=0.5", ...) leave it a non-zero weight.
// A weight is "0" or "1" with up to three decimals: "q=0", "q=0.0" and
// "q=0.000" refuse the coding, anything else (even malformed) accepts it.
bool NonZeroWeight(std::string_view params) {
  while (!params.empty()) {
    const std::string_view param = Trim(NextElement(params, ';'));
    const size_t equals = param.find('=');
    if (equals == std::string_view::npos || !IEquals(Trim(param.substr(0, equals)), "q")) {
      continue;
    }
    const std::string_view weight = Trim(param.substr(equals + 1));
    return weight.empty() || weight.find_first_not_of("0.") != std::string_view::npos;
  }
  return true;
}

}  // namespace

bool AcceptsGzip(std::string_view accept_encoding) {
  std::optional<bool> gzip;  // set when gzip is listed by name
  bool any = false;          // "*" with a non-zero weight
  while (!accept_encoding.empty()) {
    std::string_view params = NextElement(accept_encoding, ',');
    const std::string_view coding = Trim(NextElement(params, ';'));
    if (IEquals(coding, "gzip") || IEquals(coding, "x-gzip")) {
      gzip = gzip.value_or(false) || NonZeroWeight(params);
    } else if (coding == "*") {
      any = any || NonZeroWeight(params);
    }
  }
  return gzip.value_or(any);
}

bool HasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    if (IEquals(Trim(NextElement(value, ',')), token)) return true;
  }
  return false;
}

}  // namespace tcpstate
