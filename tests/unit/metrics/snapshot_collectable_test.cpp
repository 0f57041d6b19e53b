// The exposition prepared once per publish (metrics/snapshot_collectable.h):
// text and gzip, shared by every scrape until the next publish.
#include "metrics/snapshot_collectable.h"

#include <gtest/gtest.h>

#include "support/gunzip.h"
#include "support/metric_families.h"

namespace tcpstate {
namespace {

using testing::Families;
using testing::Gunzip;
using testing::Serialize;

TEST(SnapshotCollectable, PreparesTextAndGzipOncePerPublish) {
  SnapshotCollectable collectable;
  EXPECT_EQ(collectable.Prepared(), nullptr);
  const auto families = Families(500);
  collectable.PublishFamilies(families);
  const auto first = collectable.Prepared();
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->text, Serialize(*families));
  EXPECT_EQ(Gunzip(first->gzip), first->text);
  EXPECT_LT(first->gzip.size(), first->text.size() / 4);
  EXPECT_EQ(collectable.Prepared(), first);  // shared, not copied

  collectable.PublishFamilies(Families(10));
  EXPECT_NE(collectable.Prepared(), first);
  EXPECT_EQ(first->text, Serialize(*families));  // a held exposition never changes
}

}  // namespace
}  // namespace tcpstate
