// The drill-down pages rendered from a snapshot (metrics/detail_pages.h):
// filters, limits, and escaping of hostile names in HTML and JSON.
#include "metrics/detail_pages.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace tcpstate {
namespace {

DetailRow Row(std::string process, int32_t pid, std::string remote, int32_t port,
              uint64_t sockets) {
  DetailRow r;
  r.process = std::move(process);
  r.pid = pid;
  r.direction = Direction::kOutbound;
  r.remote_address = std::move(remote);
  r.remote_port = port;
  r.sockets = sockets;
  r.oldest_age_seconds = 2400;
  r.fds = {7, 9};
  return r;
}

// Two pods: billing (3000 + 10 toward two backends) and a crawler's TIME_WAIT.
Snapshot TwoPods(const std::vector<std::string>& extra_names = {}) {
  Snapshot s;
  auto billing = std::make_shared<SocketTable>();
  billing->detail.enabled = true;
  billing->detail.close_wait = {Row("billing", 41, "10.0.0.2", 443, 3000),
                                Row("billing", 41, "10.0.0.3", 443, 10)};
  int32_t pid = 100;
  for (const auto& name : extra_names)
    billing->detail.close_wait.push_back(Row(name, ++pid, "10.9.9.9", 80, 1));
  billing->by_state[6] = 12;
  auto crawler = std::make_shared<SocketTable>();
  crawler->detail.enabled = true;
  crawler->detail.close_wait = {Row("curl", 7, "10.0.0.9", 8443, 20)};
  DetailRow tw = Row("", 0, "192.0.2.1", 80, 28000);
  crawler->detail.time_wait = {tw};
  crawler->detail.local_port_range = {32768, 60999};
  crawler->by_state[6] = 28000;
  s.targets.push_back({{{"netns", "1"}, {"pod_namespace", "shop"}, {"pod_name", "billing-0"}},
                       billing,
                       nullptr,
                       nullptr,
                       nullptr,
                       false});
  s.targets.push_back({{{"netns", "2"}, {"pod_namespace", "crawl"}, {"pod_name", "c-1"}},
                       crawler,
                       nullptr,
                       nullptr,
                       nullptr,
                       false});
  return s;
}

DetailQuery Query(std::string_view text) {
  auto q = ParseDetailQuery(text);
  EXPECT_TRUE(q.ok()) << text;
  return q.ok() ? *q : DetailQuery{};
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(DetailPages, BusiestFirstAcrossPodsWithFilters) {
  const Snapshot s = TwoPods();
  const std::string all = RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json"), 50);
  const size_t a = all.find("\"sockets\":3000"), b = all.find("\"sockets\":20"),
               c = all.find("\"sockets\":10,");
  ASSERT_NE(a, std::string::npos);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  EXPECT_NE(all.find("\"matching_sockets\":3030"), std::string::npos) << all;
  EXPECT_NE(all.find("\"pod_namespace\":\"shop\",\"pod_name\":\"billing-0\",\"process\":\"billing\""
                     ",\"pid\":41,\"direction\":\"outbound\",\"local_port\":null,\"remote_address\""
                     ":\"10.0.0.2\",\"remote_port\":443,\"sockets\":3000,\"cause\":\"not_closed\","
                     "\"oldest_age_seconds\":2400.000,\"fds\":[7,9]}"),
            std::string::npos)
      << all;
  // The cause of each row, as the tcpstate_close_wait_* series have it.
  const std::string page = RenderDetailPage(s, DetailPage::kCloseWait, Query(""), 50);
  EXPECT_NE(page.find("<td class=\"cause\">not_closed</td>"), std::string::npos) << page;
  EXPECT_NE(page.find("<th>cause</th>"), std::string::npos) << page;

  const std::string curl =
      RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json&process=curl"), 50);
  EXPECT_EQ(Count(curl, ",\"process\":"), 1u);
  const std::string port =
      RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json&port=443"), 50);
  EXPECT_EQ(Count(port, "\"process\":\"billing\""), 2u);
  EXPECT_EQ(Count(port, "\"process\":\"curl\""), 0u);
  const std::string ns =
      RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json&pod_namespace=crawl"), 50);
  EXPECT_EQ(Count(ns, ",\"process\":"), 1u);
  const std::string top1 = RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json"), 1);
  EXPECT_EQ(Count(top1, ",\"process\":"), 1u);
  const std::string limit =
      RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json&limit=2"), 50);
  EXPECT_EQ(Count(limit, ",\"process\":"), 2u);
  const std::string html = RenderDetailPage(s, DetailPage::kCloseWait, Query(""), 50);
  EXPECT_EQ(Count(html, "<tr class=\"row\">"), 3u);
  EXPECT_NE(html.find("<td class=\"age num\" data-seconds=\"2400.000\">40m00s</td>"),
            std::string::npos);
}

TEST(DetailPages, TimeWaitAgainstTheLocalPortRange) {
  const Snapshot s = TwoPods();
  const std::string html = RenderDetailPage(s, DetailPage::kTimeWait, Query(""), 50);
  EXPECT_NE(html.find("99.2% of 32768-60999"), std::string::npos) << html;  // 28000 / 28232
  const std::string json = RenderDetailPage(s, DetailPage::kTimeWait, Query("format=json"), 50);
  EXPECT_NE(json.find("\"local_port_range\":{\"low\":32768,\"high\":60999}"), std::string::npos);
  EXPECT_NE(json.find("\"time_wait\":28000"), std::string::npos);
}

// The hostile names of tests/e2e/hostile_names_test.py as the exporter labels
// them (sanitized), plus markup: never markup in the page, always valid JSON
// strings.
TEST(DetailPages, HostileNamesAreEscaped) {
  const std::vector<std::string> names = {"\xef\xbf\xbd\xef\xbf\xbd bad\xef\xbf\xbd",
                                          "a\"b\\c",
                                          "line1\xef\xbf\xbdline2",
                                          "x\"} 1\xef\xbf\xbd# HELP",
                                          "",
                                          "(unknown)",
                                          "\xf0\x9f\x98\x80\xc2\x85\xef\xbf\xbdZ",
                                          "<script>alert(1)</script>",
                                          "<i>x</i>&'\"b",
                                          "\xe2\x80\xa8</td>"};
  Snapshot s = TwoPods(names);
  const std::string html = RenderDetailPage(s, DetailPage::kCloseWait, Query("limit=100"), 100);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("<i>"), std::string::npos);
  EXPECT_EQ(Count(html, "</td>"), Count(html, "<td"));  // no cell closed by a name
  EXPECT_NE(html.find("&lt;i&gt;x&lt;/i&gt;&amp;&#39;&quot;b"), std::string::npos);
  EXPECT_NE(html.find("<td class=\"process\">a&quot;b\\c</td>"), std::string::npos);
  const std::string json =
      RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json&limit=100"), 100);
  EXPECT_EQ(json.find('<'), std::string::npos);
  EXPECT_NE(json.find("\"process\":\"a\\\"b\\\\c\""), std::string::npos);
  EXPECT_NE(json.find("\\u003ci\\u003ex\\u003c/i\\u003e\\u0026'\\\"b"), std::string::npos);
  // A filter value is escaped where the page repeats it.
  const std::string filtered = RenderDetailPage(
      s, DetailPage::kCloseWait, Query("process=%22%3E%3Cscript%3E&pod_namespace=%3Cb%3E"), 50);
  EXPECT_EQ(filtered.find("<script>"), std::string::npos);
  EXPECT_EQ(filtered.find("<b>"), std::string::npos);
  EXPECT_NE(filtered.find("value=\"&quot;&gt;&lt;script&gt;\""), std::string::npos);
  EXPECT_NE(filtered.find("href=\"?format=json&amp;process=%22%3E%3Cscript%3E"), std::string::npos);
}

TEST(DetailPages, JsonStringEscapesControlsAndMarkup) {
  EXPECT_EQ(JsonString("a\"\\\n\x01<&>"), "\"a\\\"\\\\\\u000a\\u0001\\u003c\\u0026\\u003e\"");
}

TEST(DetailPages, QueryErrorsNameTheParameter) {
  for (const auto& [query, name] :
       std::vector<std::pair<std::string, std::string>>{{"port=65536", "port"},
                                                        {"port=-1", "port"},
                                                        {"port=80x", "port"},
                                                        {"limit=0", "limit"},
                                                        {"format=xml", "format"},
                                                        {"process=%zz", "process"},
                                                        {"process=%4", "process"},
                                                        {"remote=1", "unknown parameter"}}) {
    auto q = ParseDetailQuery(query);
    ASSERT_FALSE(q.ok()) << query;
    EXPECT_EQ(q.error().message.rfind(name, 0), 0u) << q.error().message;
  }
  auto q = ParseDetailQuery("process=a+b%2Fc&port=&pod_namespace=x");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->process, "a b/c");
  EXPECT_FALSE(q->port);  // the form's empty field
  EXPECT_FALSE(ParseDetailQuery("process=" + std::string(300, 'a')).ok());
}

TEST(DetailPages, LandingSummary) {
  const Snapshot s = TwoPods();
  const std::string on = RenderLandingSummary(s, 50, true);
  EXPECT_NE(on.find("<tr><td>time_wait</td><td class=\"num\">28012</td></tr>"), std::string::npos)
      << on;
  EXPECT_NE(on.find("10.0.0.2"), std::string::npos);
  EXPECT_NE(on.find("href=\"/close_wait\""), std::string::npos);
  EXPECT_NE(on.find("href=\"/time_wait\""), std::string::npos);
  const std::string off = RenderLandingSummary(s, 50, false);
  EXPECT_EQ(off.find("10.0.0.2"), std::string::npos);
  EXPECT_EQ(off.find("/close_wait"), std::string::npos);
  EXPECT_TRUE(RenderLandingSummary(Snapshot{}, 50, true).empty());
}

// People read the poll's time in UTC; tools get the epoch seconds in the JSON.
TEST(DetailPages, PollTimeIsUtcForPeopleAndSecondsForTools) {
  Snapshot s = TwoPods();
  s.self.last_success_timestamp_seconds = 1796409865.388;
  const std::string html = RenderDetailPage(s, DetailPage::kCloseWait, Query(""), 50);
  EXPECT_NE(html.find("<time id=\"poll-time\" datetime=\"2026-12-04T18:44:25Z\">"
                      "2026-12-04T18:44:25Z</time>"),
            std::string::npos)
      << html;
  const std::string json = RenderDetailPage(s, DetailPage::kCloseWait, Query("format=json"), 50);
  EXPECT_NE(json.find("\"last_poll_timestamp_seconds\":1796409865.388"), std::string::npos) << json;
  s.self.last_success_timestamp_seconds = 0;
  EXPECT_NE(RenderDetailPage(s, DetailPage::kCloseWait, Query(""), 50).find(">never</time>"),
            std::string::npos);
}

}  // namespace
}  // namespace tcpstate
