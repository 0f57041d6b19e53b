// What the HTTP layer serves on the drill-down pages (/close_wait,
// /time_wait) and the landing page's summary: rendered on request from the
// latest published snapshot (never a dump), so the filters of the query
// string apply. The work is bounded by the rows a snapshot holds
// (pages.max_groups per namespace) and by the server's in-flight cap.
//
// Thread-safety: every member may be called from any HTTP worker at once and
// concurrently with publishing.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tcpstate {

struct Page {
  unsigned status = 200;
  const char* content_type = "text/html; charset=utf-8";
  std::string body;
};

class PageSource {
 public:
  virtual ~PageSource() = default;
  // nullopt: not a page, or the pages are turned off (404). `query`: what
  // follows '?' in the request target, undecoded.
  virtual std::optional<Page> RenderPage(std::string_view path, std::string_view query) const = 0;
  // An HTML fragment for the landing page: sockets per state, the top
  // CLOSE_WAIT offenders, TIME_WAIT against its limit, links to the pages.
  // Empty before the first poll; without the links when the pages are off.
  virtual std::string LandingSummary() const = 0;
};

}  // namespace tcpstate
