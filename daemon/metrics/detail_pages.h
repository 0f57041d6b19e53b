// Renders the drill-down pages from a snapshot: pure functions, no I/O.
//   /close_wait  CLOSE_WAIT sockets by pod, process, pid, direction, port and
//                remote address, with count, oldest age and fd numbers
//   /time_wait   TIME_WAIT sockets by destination, against
//                ip_local_port_range and tcp_max_tw_buckets
// as HTML (for people) or JSON (?format=json, docs/http.md has the schema).
// Every string is escaped for its format; process names come sanitized
// (valid UTF-8, no C0 control) but may hold any of <>&"'\.
//
// Thread-safety: pure; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "snapshot/snapshot.h"

namespace tcpstate {

enum class DetailPage { kCloseWait, kTimeWait };

// The query string: format=html|json, process=NAME, port=N (local or remote
// port), pod_namespace=NS, limit=N (at most `top`).
struct DetailQuery {
  bool json = false;
  std::string process;
  std::optional<int32_t> port;
  std::string pod_namespace;
  std::optional<uint32_t> limit;
};

// Percent-decodes and checks `query`; an error names the parameter.
Result<DetailQuery> ParseDetailQuery(std::string_view query);

// `top`: rows shown at most (pages.top).
std::string RenderDetailPage(const Snapshot& snapshot, DetailPage page, const DetailQuery& query,
                             uint32_t top);

// The landing page's fragment; `links`: whether the pages are on.
std::string RenderLandingSummary(const Snapshot& snapshot, uint32_t top, bool links);

// A JSON string literal, quotes included; every control character, '<', '>'
// and '&' as \u escapes.
std::string JsonString(std::string_view text);

}  // namespace tcpstate
