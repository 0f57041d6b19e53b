#include "metrics/snapshot_collectable.h"

#include <prometheus/text_serializer.h>

#include <iterator>
#include <sstream>

#include "common/gzip.h"
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
