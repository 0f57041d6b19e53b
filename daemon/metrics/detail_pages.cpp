#include "metrics/detail_pages.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "common/html_escape.h"
#include "common/tcp_state.h"

namespace tcpstate {
namespace {

constexpr size_t kMaxQueryValue = 256;
constexpr uint32_t kLandingRows = 5;

std::string_view Label(const TargetData& target, std::string_view name) {
  for (const auto& [key, value] : target.labels) {
    if (key == name) return value;
  }
  return {};
}

std::optional<int64_t> Setting(const TargetData& target, Sysctl sysctl) {
  if (!target.kernel) return std::nullopt;
  for (const KernelSetting& s : target.kernel->values) {
    if (s.sysctl == sysctl) return s.value;
  }
  return std::nullopt;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::string> PercentDecode(std::string_view in, std::string_view name) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%') {
      const int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return MakeError(ErrorKind::kInvalid, std::string(name) + ": bad percent escape");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += in[i];
    }
    if (out.size() > kMaxQueryValue) {
      return MakeError(ErrorKind::kInvalid, std::string(name) + ": longer than 256 bytes");
    }
  }
  return out;
}

std::string UrlEncode(std::string_view in) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (const char c : in) {
    const auto u = static_cast<unsigned char>(c);
    if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '-' ||
        u == '_' || u == '.' || u == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

bool ParseNumber(std::string_view text, int64_t low, int64_t high, int64_t* out) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < low || v > high) return false;
  *out = v;
  return true;
}

// A row of the snapshot with the namespace it came from.
struct Located {
  const TargetData* target;
  const DetailRow* row;
};

bool Matches(const Located& l, const DetailQuery& q) {
  if (!q.process.empty() && l.row->process != q.process) return false;
  if (q.port && l.row->local_port != *q.port && l.row->remote_port != *q.port) return false;
  if (!q.pod_namespace.empty() && Label(*l.target, "pod_namespace") != q.pod_namespace) {
    return false;
  }
  return true;
}

struct Selection {
  std::vector<Located> rows;  // shown, busiest first
  uint64_t matching_sockets = 0;
  uint64_t matching_groups = 0;
  uint64_t not_shown_sockets = 0;  // beyond pages.max_groups, in every namespace
  bool enabled = false;            // some namespace gathered rows
};

Selection Select(const Snapshot& snapshot, DetailPage page, const DetailQuery& query,
                 uint32_t limit) {
  Selection s;
  for (const TargetData& target : snapshot.targets) {
    if (!target.sockets) continue;
    const DetailTable& d = target.sockets->detail;
    s.enabled = s.enabled || d.enabled;
    const auto& rows = page == DetailPage::kCloseWait ? d.close_wait : d.time_wait;
    s.not_shown_sockets +=
        page == DetailPage::kCloseWait ? d.close_wait_not_shown : d.time_wait_not_shown;
    for (const DetailRow& row : rows) {
      const Located l{&target, &row};
      if (!Matches(l, query)) continue;
      s.matching_sockets += row.sockets;
      ++s.matching_groups;
      s.rows.push_back(l);
    }
  }
  // Busiest first; stable keeps each namespace's own order for ties.
  std::stable_sort(s.rows.begin(), s.rows.end(), [](const Located& a, const Located& b) {
    return a.row->sockets > b.row->sockets;
  });
  if (s.rows.size() > limit) s.rows.resize(limit);
  return s;
}

std::string PodText(const TargetData& target) {
  const auto ns = Label(target, "pod_namespace");
  const auto name = Label(target, "pod_name");
  if (!ns.empty() || !name.empty()) return std::string(ns) + "/" + std::string(name);
  const auto uid = Label(target, "pod_uid");
  if (!uid.empty()) return "pod " + std::string(uid);
  const auto netns = Label(target, "netns");
  return netns.empty() ? "host" : "netns " + std::string(netns);
}

std::string Age(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  char text[64];
  if (s >= 3600) {
    std::snprintf(text, sizeof(text), "%" PRId64 "h%02" PRId64 "m", s / 3600, s / 60 % 60);
  } else if (s >= 60) {
    std::snprintf(text, sizeof(text), "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof(text), "%" PRId64 "s", s);
  }
  return text;
}

std::string Number(double v) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.3f", v);
  return text;
}

std::string PortText(int32_t port) { return port < 0 ? "*" : std::to_string(port); }
std::string JsonPort(int32_t port) { return port < 0 ? "null" : std::to_string(port); }

uint32_t RangeSize(const PortRange& r) {
  return r.high >= r.low ? uint32_t{r.high} - r.low + 1 : 0;
}

// The query string of the current filters, `format` replaced.
std::string QueryString(const DetailQuery& q, bool json) {
  std::string out = json ? "format=json" : "format=html";
  if (!q.process.empty()) out += "&process=" + UrlEncode(q.process);
  if (q.port) out += "&port=" + std::to_string(*q.port);
  if (!q.pod_namespace.empty()) out += "&pod_namespace=" + UrlEncode(q.pod_namespace);
  if (q.limit) out += "&limit=" + std::to_string(*q.limit);
  return out;
}

constexpr const char* kStyle =
    "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}"
    "td,th{border:1px solid #bbb;padding:2px 8px;text-align:left}"
    "td.num,th.num{text-align:right}th{background:#eee}form{margin:1em 0}</style>";

void AppendHead(std::string& out, std::string_view title) {
  out += "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>";
  out += title;
  out += " - tcpstate_exporter</title>";
  out += kStyle;
  out += "</head><body>\n";
}

// 2026-12-04T18:48:48Z; "never" before the first successful poll.
std::string Rfc3339Utc(double seconds) {
  if (!(seconds > 0)) return "never";
  const auto whole = static_cast<std::time_t>(seconds);
  std::tm tm{};
  if (gmtime_r(&whole, &tm) == nullptr) return "never";
  char text[32];
  const size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return n == 0 ? "never" : std::string(text, n);
}

void AppendFilterForm(std::string& out, const DetailQuery& q) {
  out += "<form method=\"get\">process <input name=\"process\" value=\"";
  out += HtmlEscape(q.process);
  out += "\"> port <input name=\"port\" size=\"6\" value=\"";
  out += q.port ? std::to_string(*q.port) : "";
  out += "\"> pod_namespace <input name=\"pod_namespace\" value=\"";
  out += HtmlEscape(q.pod_namespace);
  out += "\"> <input type=\"submit\" value=\"filter\"></form>\n";
}

void AppendSummaryLine(std::string& out, const Snapshot& snapshot, const Selection& s,
                       const DetailQuery& q, std::string_view what) {
  // A person reads the time; the epoch seconds stay in the JSON.
  const std::string when = Rfc3339Utc(snapshot.self.last_success_timestamp_seconds);
  out += "<p id=\"summary\">From the latest poll (<time id=\"poll-time\" datetime=\"" + when +
         "\">" + when + "</time>): <span id=\"matching-sockets\">" +
         std::to_string(s.matching_sockets) + "</span> ";
  out += what;
  out += " sockets in <span id=\"matching-groups\">" + std::to_string(s.matching_groups) +
         "</span> groups match; the top <span id=\"shown\">" + std::to_string(s.rows.size()) +
         "</span> are shown.";
  if (s.not_shown_sockets > 0) {
    out += " <span id=\"not-shown\">" + std::to_string(s.not_shown_sockets) +
           "</span> sockets beyond pages.max_groups are not in any group.";
  }
  out += " <a href=\"/\">home</a> &middot; <a id=\"json\" href=\"?";
  out += HtmlEscape(QueryString(q, true));
  out += "\">JSON</a></p>\n";
}

// The columns every row has, in one place: HTML cells or JSON members. A
// CLOSE_WAIT cause is to be added here (and in the header row below).
void AppendRowColumns(std::string& out, const Located& l, DetailPage page, bool json) {
  const DetailRow& r = *l.row;
  const TargetData& t = *l.target;
  if (json) {
    out += "{\"netns\":" + JsonString(Label(t, "netns"));
    out += ",\"pod_uid\":" + JsonString(Label(t, "pod_uid"));
    out += ",\"pod_namespace\":" + JsonString(Label(t, "pod_namespace"));
    out += ",\"pod_name\":" + JsonString(Label(t, "pod_name"));
    if (page == DetailPage::kCloseWait) {
      out += ",\"process\":" + JsonString(r.process);
      out += ",\"pid\":" + (r.pid == 0 ? std::string("null") : std::to_string(r.pid));
    }
    out += ",\"direction\":" + JsonString(DirectionLabel(r.direction));
    out += ",\"local_port\":" + JsonPort(r.local_port);
    out += ",\"remote_address\":" + JsonString(r.remote_address);
    out += ",\"remote_port\":" + JsonPort(r.remote_port);
    out += ",\"sockets\":" + std::to_string(r.sockets);
    if (page == DetailPage::kCloseWait) {
      out += ",\"cause\":" + JsonString(CloseWaitCauseName(r.cause));
      out += ",\"oldest_age_seconds\":" + Number(r.oldest_age_seconds);
      out += ",\"fds\":[";
      for (size_t i = 0; i < r.fds.size(); ++i) {
        if (i > 0) out += ',';
        out += std::to_string(r.fds[i]);
      }
      out += ']';
    } else {
      const PortRange range = t.sockets->detail.local_port_range;
      out += ",\"local_port_range\":{\"low\":" + std::to_string(range.low) +
             ",\"high\":" + std::to_string(range.high) + "}";
    }
    out += '}';
    return;
  }
  auto cell = [&out](const char* cls, std::string_view text, bool num = false) {
    out += "<td class=\"";
    out += cls;
    out += num ? " num\">" : "\">";
    out += HtmlEscape(text);
    out += "</td>";
  };
  out += "<tr class=\"row\">";
  cell("pod", PodText(t));
  if (page == DetailPage::kCloseWait) {
    cell("process", r.process);
    cell("pid", r.pid == 0 ? "" : std::to_string(r.pid), true);
  }
  cell("direction", DirectionLabel(r.direction));
  cell("local-port", PortText(r.local_port), true);
  cell("remote-address", r.remote_address);
  cell("remote-port", PortText(r.remote_port), true);
  cell("sockets", std::to_string(r.sockets), true);
  if (page == DetailPage::kCloseWait) {
    cell("cause", CloseWaitCauseName(r.cause));
    out += "<td class=\"age num\" data-seconds=\"" + Number(r.oldest_age_seconds) + "\">" +
           Age(r.oldest_age_seconds) + "</td>";
    std::string fds;
    for (const uint32_t fd : r.fds) fds += (fds.empty() ? "" : " ") + std::to_string(fd);
    cell("fds", fds);
  } else {
    const PortRange range = t.sockets->detail.local_port_range;
    const uint32_t size = RangeSize(range);
    char used[96];
    std::snprintf(used, sizeof(used), "%.1f%% of %u-%u",
                  size ? 100.0 * static_cast<double>(r.sockets) / size : 0.0, range.low,
                  range.high);
    cell("range-used", r.direction == Direction::kOutbound ? used : "");
  }
  out += "</tr>\n";
}

void AppendHeaderRow(std::string& out, DetailPage page) {
  out += "<thead><tr><th>pod</th>";
  if (page == DetailPage::kCloseWait) out += "<th>process</th><th class=\"num\">pid</th>";
  out +=
      "<th>direction</th><th class=\"num\">local port</th><th>remote address</th>"
      "<th class=\"num\">remote port</th><th class=\"num\">sockets</th>";
  if (page == DetailPage::kCloseWait) {
    out += "<th>cause</th><th class=\"num\">oldest</th><th>fds</th>";
  } else {
    out += "<th>local ports used (ip_local_port_range)</th>";
  }
  out += "</tr></thead>\n";
}

// TIME_WAIT of each namespace against its limits, most first.
struct NamespaceTimeWait {
  const TargetData* target;
  uint64_t time_wait;
};
std::vector<NamespaceTimeWait> TimeWaitByNamespace(const Snapshot& snapshot,
                                                   const DetailQuery* query) {
  std::vector<NamespaceTimeWait> out;
  for (const TargetData& target : snapshot.targets) {
    if (!target.sockets) continue;
    if (query != nullptr && !query->pod_namespace.empty() &&
        Label(target, "pod_namespace") != query->pod_namespace) {
      continue;
    }
    out.push_back({&target, target.sockets->by_state[kTimeWait]});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.time_wait > b.time_wait; });
  return out;
}

std::string LimitText(std::optional<int64_t> v) { return v ? std::to_string(*v) : "?"; }

void AppendTimeWaitLimits(std::string& out, const std::vector<NamespaceTimeWait>& spaces,
                          size_t limit) {
  out +=
      "<table id=\"time-wait-limits\"><thead><tr><th>pod</th><th class=\"num\">TIME_WAIT</th>"
      "<th class=\"num\">tcp_max_tw_buckets</th><th>ip_local_port_range</th></tr></thead>\n";
  for (size_t i = 0; i < spaces.size() && i < limit; ++i) {
    const TargetData& t = *spaces[i].target;
    out += "<tr><td>" + HtmlEscape(PodText(t)) + "</td><td class=\"num\">" +
           std::to_string(spaces[i].time_wait) + "</td><td class=\"num\">" +
           LimitText(Setting(t, Sysctl::kTcpMaxTwBuckets)) + "</td><td>" +
           LimitText(Setting(t, Sysctl::kIpLocalPortRangeLow)) + "-" +
           LimitText(Setting(t, Sysctl::kIpLocalPortRangeHigh)) + "</td></tr>\n";
  }
  out += "</table>\n";
}

}  // namespace

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f || c == '<' || c == '>' || c == '&') {
      char esc[8];
      std::snprintf(esc, sizeof(esc), "\\u%04x", u);
      out += esc;
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

Result<DetailQuery> ParseDetailQuery(std::string_view query) {
  DetailQuery q;
  if (query.size() > 4 * kMaxQueryValue) {
    return MakeError(ErrorKind::kInvalid, "query string longer than 1024 bytes");
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view name = pair.substr(0, eq);
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), name);
    if (!value.ok()) return value.error();
    int64_t n = 0;
    if (name == "format") {
      if (*value != "json" && *value != "html") {
        return MakeError(ErrorKind::kInvalid, "format: must be html or json");
      }
      q.json = *value == "json";
    } else if (name == "process") {
      q.process = *value;
    } else if (name == "pod_namespace") {
      q.pod_namespace = *value;
    } else if (name == "port") {
      if (value->empty()) continue;  // the form's empty field
      if (!ParseNumber(*value, 0, 65535, &n)) {
        return MakeError(ErrorKind::kInvalid, "port: must be a number from 0 to 65535");
      }
      q.port = static_cast<int32_t>(n);
    } else if (name == "limit") {
      if (!ParseNumber(*value, 1, 1'000'000, &n)) {
        return MakeError(ErrorKind::kInvalid, "limit: must be a positive number");
      }
      q.limit = static_cast<uint32_t>(n);
    } else {
      return MakeError(ErrorKind::kInvalid,
                       "unknown parameter (known: format, process, port, pod_namespace, limit)");
    }
  }
  return q;
}

std::string RenderDetailPage(const Snapshot& snapshot, DetailPage page, const DetailQuery& query,
                             uint32_t top) {
  const uint32_t limit = std::min(top, query.limit.value_or(top));
  const Selection s = Select(snapshot, page, query, limit);
  const bool cw = page == DetailPage::kCloseWait;
  std::string out;
  if (query.json) {
    out += "{\"page\":";
    out += cw ? "\"close_wait\"" : "\"time_wait\"";
    out +=
        ",\"last_poll_timestamp_seconds\":" + Number(snapshot.self.last_success_timestamp_seconds);
    out += ",\"filters\":{\"process\":" + JsonString(query.process) +
           ",\"port\":" + (query.port ? std::to_string(*query.port) : "null") +
           ",\"pod_namespace\":" + JsonString(query.pod_namespace) + "}";
    out += ",\"limit\":" + std::to_string(limit);
    out += ",\"matching_sockets\":" + std::to_string(s.matching_sockets);
    out += ",\"matching_groups\":" + std::to_string(s.matching_groups);
    out += ",\"not_shown_sockets\":" + std::to_string(s.not_shown_sockets);
    if (!cw) {
      out += ",\"namespaces\":[";
      bool first = true;
      for (const auto& ns : TimeWaitByNamespace(snapshot, &query)) {
        if (!first) out += ',';
        first = false;
        const TargetData& t = *ns.target;
        auto setting = [&](Sysctl sysctl) {
          const auto v = Setting(t, sysctl);
          return v ? std::to_string(*v) : std::string("null");
        };
        out += "{\"netns\":" + JsonString(Label(t, "netns")) +
               ",\"pod_namespace\":" + JsonString(Label(t, "pod_namespace")) +
               ",\"pod_name\":" + JsonString(Label(t, "pod_name")) +
               ",\"time_wait\":" + std::to_string(ns.time_wait) +
               ",\"tcp_max_tw_buckets\":" + setting(Sysctl::kTcpMaxTwBuckets) +
               ",\"local_port_range\":{\"low\":" + setting(Sysctl::kIpLocalPortRangeLow) +
               ",\"high\":" + setting(Sysctl::kIpLocalPortRangeHigh) + "}}";
      }
      out += ']';
    }
    out += ",\"rows\":[";
    for (size_t i = 0; i < s.rows.size(); ++i) {
      if (i > 0) out += ",\n";
      AppendRowColumns(out, s.rows[i], page, true);
    }
    out += "]}\n";
    return out;
  }
  AppendHead(out, cw ? "CLOSE_WAIT sockets" : "TIME_WAIT sockets");
  out += cw ? "<h1>CLOSE_WAIT sockets by remote address</h1>\n"
            : "<h1>TIME_WAIT sockets by destination</h1>\n";
  if (!s.enabled && !snapshot.targets.empty()) {
    out += "<p>No rows gathered yet (pages.enabled was off for the latest poll).</p>\n";
  }
  AppendSummaryLine(out, snapshot, s, query, cw ? "CLOSE_WAIT" : "TIME_WAIT");
  AppendFilterForm(out, query);
  if (!cw) {
    out += "<h2>Per namespace</h2>\n";
    AppendTimeWaitLimits(out, TimeWaitByNamespace(snapshot, &query), limit);
    out += "<h2>By destination</h2>\n";
  }
  out += "<table id=\"rows\">\n";
  AppendHeaderRow(out, page);
  out += "<tbody>\n";
  for (const Located& l : s.rows) AppendRowColumns(out, l, page, false);
  out += "</tbody></table>\n";
  out += cw ? "<p>A row is one process (pid) and one peer: outbound rows fold the local "
              "ephemeral port (*), inbound rows the client's port. fds: some of the row's "
              "sockets, as in <code>ls -l /proc/PID/fd/FD</code>.</p>\n"
            : "<p>Outbound rows fold the local port: their sockets each hold one local port "
              "toward that destination, out of ip_local_port_range.</p>\n";
  out += "</body></html>\n";
  return out;
}

std::string RenderLandingSummary(const Snapshot& snapshot, uint32_t top, bool links) {
  if (snapshot.targets.empty()) return {};
  std::array<uint64_t, 256> by_state{};
  for (const TargetData& target : snapshot.targets) {
    if (!target.sockets) continue;
    for (size_t i = 0; i < by_state.size(); ++i) by_state[i] += target.sockets->by_state[i];
  }
  std::string out = "<h2>Sockets per state</h2>\n<table id=\"states\"><tbody>\n";
  for (size_t i = 0; i < by_state.size(); ++i) {
    if (by_state[i] == 0) continue;
    out += "<tr><td>" + HtmlEscape(StateLabel(static_cast<uint8_t>(i))) +
           "</td><td class=\"num\">" + std::to_string(by_state[i]) + "</td></tr>\n";
  }
  out += "</tbody></table>\n";
  if (!links) return out;
  const Selection s =
      Select(snapshot, DetailPage::kCloseWait, DetailQuery{}, std::min(top, kLandingRows));
  out += "<h2>Top CLOSE_WAIT offenders</h2>\n<table id=\"close-wait-top\">\n";
  AppendHeaderRow(out, DetailPage::kCloseWait);
  out += "<tbody>\n";
  for (const Located& l : s.rows) AppendRowColumns(out, l, DetailPage::kCloseWait, false);
  out +=
      "</tbody></table>\n<p><a href=\"/close_wait\">/close_wait</a>: every CLOSE_WAIT group, "
      "with filters</p>\n";
  out += "<h2>TIME_WAIT against its limit</h2>\n";
  AppendTimeWaitLimits(out, TimeWaitByNamespace(snapshot, nullptr), kLandingRows);
  out += "<p><a href=\"/time_wait\">/time_wait</a>: TIME_WAIT by destination</p>\n";
  return out;
}

}  // namespace tcpstate
