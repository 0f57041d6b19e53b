#include "metrics/snapshot_collectable.h"

#include <prometheus/text_serializer.h>

#include <sstream>

namespace tcpstate {

void SnapshotCollectable::Publish(std::shared_ptr<const Families> families) {
  // Serialize outside the lock: scrapes keep getting the previous text.
  std::ostringstream out;
  if (families) prometheus::TextSerializer().Serialize(out, *families);
  auto text = std::make_shared<const std::string>(std::move(out).str());
  std::lock_guard lock(mutex_);
  latest_ = std::move(families);
  text_ = std::move(text);
}

}  // namespace tcpstate
