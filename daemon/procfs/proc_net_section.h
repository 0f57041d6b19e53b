// The two-line sections of /proc/net/snmp and /proc/net/netstat
// (net/ipv4/proc.c): "Prefix: Name1 Name2 ..." then "Prefix: v1 v2 ...".
//
// Thread-safety: a free function without shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace tcpstate {

struct SectionValue {
  size_t field;  // index in `wanted`
  uint64_t value;
};

// The values of the `wanted` names in the first section whose lines start
// with `prefix` ("Tcp:", "TcpExt:"), in `wanted` order; names this kernel
// lacks are left out and names not wanted are not parsed (MaxConn is -1).
// Errors (a header without its value line, counts that differ, a line of
// more than 1,024 fields, a bad value, no such section) start with `file`.
Result<std::vector<SectionValue>> ParseProcNetSection(std::string_view text,
                                                      std::string_view prefix,
                                                      std::span<const std::string_view> wanted,
                                                      std::string_view file);

// The same as {field, value} records of the caller's enum (`Counter` has
// `field`, an enum over `wanted`, and `value`).
template <typename Counter>
Result<std::vector<Counter>> ParseProcNetCounters(std::string_view text, std::string_view prefix,
                                                  std::span<const std::string_view> wanted,
                                                  std::string_view file) {
  auto values = ParseProcNetSection(text, prefix, wanted, file);
  if (!values.ok()) return values.error();
  std::vector<Counter> counters;
  counters.reserve(values->size());
  for (const SectionValue& v : *values) {
    counters.push_back({static_cast<decltype(Counter::field)>(v.field), v.value});
  }
  return counters;
}

}  // namespace tcpstate
