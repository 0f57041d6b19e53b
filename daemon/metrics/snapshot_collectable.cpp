#include "metrics/snapshot_collectable.h"

#include <prometheus/text_serializer.h>

#include <iterator>
#include <sstream>

#include "common/gzip.h"
#include "metrics/detail_pages.h"
#include "metrics/render_snapshot.h"

namespace tcpstate {

void SnapshotCollectable::Publish(std::shared_ptr<const Snapshot> snapshot) {
  Families families = RenderSnapshot(*snapshot);
  for (const auto& extra : extra_) {
    Families more = extra->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  PublishFamilies(std::make_shared<const Families>(std::move(families)));
  std::lock_guard lock(mutex_);
  snapshot_ = std::move(snapshot);
}

void SnapshotCollectable::SetPageOptions(bool enabled, uint32_t top) {
  std::lock_guard lock(mutex_);
  pages_enabled_ = enabled;
  pages_top_ = top;
}

std::optional<Page> SnapshotCollectable::RenderPage(std::string_view path,
                                                    std::string_view query) const {
  DetailPage page;
  if (path == "/close_wait") {
    page = DetailPage::kCloseWait;
  } else if (path == "/time_wait") {
    page = DetailPage::kTimeWait;
  } else {
    return std::nullopt;
  }
  std::shared_ptr<const Snapshot> snapshot;
  uint32_t top = 0;
  {
    std::lock_guard lock(mutex_);
    if (!pages_enabled_) return std::nullopt;
    snapshot = snapshot_;
    top = pages_top_;
  }
  auto parsed = ParseDetailQuery(query);
  if (!parsed.ok()) {
    return Page{400, "text/plain; charset=utf-8", "bad query: " + parsed.error().message + "\n"};
  }
  if (!snapshot) {
    return Page{503, "text/plain; charset=utf-8", "no poll published yet\n"};
  }
  Page out;
  if (parsed->json) out.content_type = "application/json";
  out.body = RenderDetailPage(*snapshot, page, *parsed, top);
  return out;
}

std::string SnapshotCollectable::LandingSummary() const {
  std::shared_ptr<const Snapshot> snapshot;
  bool enabled = false;
  uint32_t top = 0;
  {
    std::lock_guard lock(mutex_);
    snapshot = snapshot_;
    enabled = pages_enabled_;
    top = pages_top_;
  }
  return snapshot ? RenderLandingSummary(*snapshot, top, enabled) : std::string();
}

void SnapshotCollectable::PublishFamilies(std::shared_ptr<const Families> families) {
  // Serialize and compress outside the lock: scrapes keep getting the
  // previous exposition meanwhile.
  std::ostringstream out;
  if (families) prometheus::TextSerializer().Serialize(out, *families);
  auto prepared = std::make_shared<Exposition>();
  prepared->text = std::move(out).str();
  prepared->gzip = GzipCompress(prepared->text);
  std::lock_guard lock(mutex_);
  latest_ = std::move(families);
  prepared_ = std::move(prepared);
}

}  // namespace tcpstate
