#include "metrics/snapshot_collectable.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "common/gzip.h"
#include "metrics/render_snapshot.h"

namespace tcpstate {

void SnapshotCollectable::Publish(std::shared_ptr<const Snapshot> snapshot) {
  PublishFamilies(std::make_shared<const Families>(RenderSnapshot(*snapshot)));
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
