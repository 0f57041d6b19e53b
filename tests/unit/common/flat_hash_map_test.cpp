#include "common/flat_hash_map.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace tcpstate {
namespace {

// home(key) = key & mask: the tests place keys exactly.
struct IdentityHash {
  uint64_t operator()(uint32_t key) const { return key; }
};
// Every key has the same home: one probe run holds the whole table.
struct ConstantHash {
  uint64_t operator()(uint32_t) const { return 5; }
};

struct Entry {
  uint32_t owner = 0;
  uint32_t last_seen = 0;
  uint32_t retry_after = 0;
  bool operator==(const Entry&) const = default;
};

// Every entry reachable from its home slot without crossing an empty slot,
// no duplicates, size() equals the occupied slots.
template <typename Map>
void ExpectInvariants(const Map& map) {
  const auto slots = map.slots();
  if (slots.empty()) {
    EXPECT_LE(map.size(), 1u);
    return;
  }
  const size_t mask = slots.size() - 1;
  ASSERT_EQ(slots.size() & mask, 0u) << "capacity not a power of two";
  size_t occupied = 0;
  std::set<uint64_t> keys;
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].key == 0) continue;
    ++occupied;
    EXPECT_TRUE(keys.insert(slots[i].key).second) << "duplicate key " << slots[i].key;
    for (size_t j = map.HomeOf(slots[i].key); j != i; j = (j + 1) & mask) {
      ASSERT_NE(slots[j].key, 0u) << "key " << slots[i].key << " at " << i
                                  << " unreachable: empty slot " << j;
    }
  }
  EXPECT_EQ(occupied + (map.contains(0) ? 1 : 0), map.size());
  EXPECT_LE(occupied * 10, slots.size() * 7) << "load above 7/10";
}

TEST(FlatHashMapTest, EmptyMapAllocatesNothing) {
  FlatHashMap<uint32_t, Entry> map;
  EXPECT_EQ(map.size(), 0u);
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.capacity(), 0u);
  EXPECT_EQ(map.Find(1), nullptr);
  EXPECT_FALSE(map.Erase(1));
  EXPECT_EQ(map.EraseIf([](uint32_t, Entry&) { return true; }), 0u);
  map.Shrink();
  EXPECT_EQ(map.capacity(), 0u);
}

TEST(FlatHashMapTest, InsertFindAssignErase) {
  FlatHashMap<uint32_t, Entry> map;
  auto [value, inserted] = map.TryEmplace(42, Entry{1, 2, 3});
  EXPECT_TRUE(inserted);
  EXPECT_EQ(*value, (Entry{1, 2, 3}));
  EXPECT_EQ(map.capacity(), (FlatHashMap<uint32_t, Entry>::kMinCapacity));
  auto again = map.TryEmplace(42, Entry{9, 9, 9});
  EXPECT_FALSE(again.second);
  EXPECT_EQ(*again.first, (Entry{1, 2, 3}));  // TryEmplace keeps the old value
  map.InsertOrAssign(42, Entry{4, 5, 6});
  ASSERT_NE(map.Find(42), nullptr);
  EXPECT_EQ(*map.Find(42), (Entry{4, 5, 6}));
  map.Find(42)->last_seen = 77;
  EXPECT_EQ(map.Find(42)->last_seen, 77u);
  map[43].owner = 8;
  EXPECT_EQ(*map.Find(43), (Entry{8, 0, 0}));
  EXPECT_EQ(map.size(), 2u);
  EXPECT_TRUE(map.Erase(42));
  EXPECT_FALSE(map.Erase(42));
  EXPECT_EQ(map.Find(42), nullptr);
  EXPECT_TRUE(map.contains(43));
  EXPECT_EQ(map.size(), 1u);
}

TEST(FlatHashMapTest, SlotsArePacked) {
  EXPECT_EQ(sizeof(FlatHashMap<uint32_t, Entry>::Slot), 16u);
  EXPECT_EQ(sizeof(FlatHashMap<uint64_t, int64_t>::Slot), 16u);
  FlatHashSet<uint32_t> set;
  set.insert(1);
  EXPECT_EQ(set.memory_bytes(), set.capacity() * sizeof(uint32_t));
}

TEST(FlatHashMapTest, KeyZeroIsAnOrdinaryKey) {
  FlatHashMap<uint64_t, int64_t> map;
  EXPECT_FALSE(map.contains(0));
  EXPECT_TRUE(map.TryEmplace(0, -5).second);
  EXPECT_EQ(map.size(), 1u);
  EXPECT_EQ(map.capacity(), 0u);  // kept beside the array
  EXPECT_FALSE(map.TryEmplace(0, 7).second);
  EXPECT_EQ(*map.Find(0), -5);
  map.InsertOrAssign(0, 7);
  EXPECT_EQ(*map.Find(0), 7);
  map.InsertOrAssign(9, 1);
  std::vector<std::pair<uint64_t, int64_t>> seen;
  map.ForEach([&](uint64_t k, int64_t v) { seen.emplace_back(k, v); });
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, int64_t>>{{0, 7}, {9, 1}}));
  EXPECT_EQ(map.EraseIf([](uint64_t k, int64_t&) { return k == 0; }), 1u);
  EXPECT_FALSE(map.contains(0));
  EXPECT_TRUE(map.contains(9));
  map[0] = 3;
  EXPECT_TRUE(map.Erase(0));
  EXPECT_FALSE(map.Erase(0));
  EXPECT_EQ(map.size(), 1u);
}

TEST(FlatHashMapTest, BackwardShiftAcrossWrapAround) {
  // Capacity 16, home = key & 15. Keys 14, 30, 46 share home 14 and occupy
  // slots 14, 15, 0; key 15 (home 15) lands in 1, key 16 (home 0) in 2.
  FlatHashMap<uint32_t, uint32_t, IdentityHash> map;
  for (uint32_t key : {14u, 30u, 46u, 15u, 16u}) map[key] = key * 10;
  ASSERT_EQ(map.capacity(), 16u);
  auto slot_of = [&](uint32_t key) -> int {
    const auto slots = map.slots();
    for (size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].key == key) return static_cast<int>(i);
    }
    return -1;
  };
  EXPECT_EQ(slot_of(14), 14);
  EXPECT_EQ(slot_of(30), 15);
  EXPECT_EQ(slot_of(46), 0);
  EXPECT_EQ(slot_of(15), 1);
  EXPECT_EQ(slot_of(16), 2);
  ExpectInvariants(map);

  // Erasing 14 shifts the whole run back by one, across the wrap-around.
  ASSERT_TRUE(map.Erase(14));
  EXPECT_EQ(slot_of(30), 14);
  EXPECT_EQ(slot_of(46), 15);
  EXPECT_EQ(slot_of(15), 0);
  EXPECT_EQ(slot_of(16), 1);
  EXPECT_EQ(map.slots()[2].key, 0u);
  ExpectInvariants(map);
  for (uint32_t key : {30u, 46u, 15u, 16u}) EXPECT_EQ(*map.Find(key), key * 10) << key;
  EXPECT_EQ(map.Find(14), nullptr);

  // An entry already at its home does not move into a hole before it.
  FlatHashMap<uint32_t, uint32_t, IdentityHash> at_home;
  for (uint32_t key : {3u, 19u, 5u}) at_home[key] = 1;  // 3 ->3, 19 ->4, 5 ->5
  ASSERT_TRUE(at_home.Erase(19));
  EXPECT_EQ(at_home.slots()[5].key, 5u);
  EXPECT_EQ(at_home.slots()[4].key, 0u);
  ExpectInvariants(at_home);

  // Run 13..3 wrapping: erase in the middle of the wrapped part.
  FlatHashMap<uint32_t, uint32_t, IdentityHash> wrapped;
  for (uint32_t key : {13u, 29u, 45u, 61u, 77u, 1u}) wrapped[key] = key;  // 13,14,15,0,1 then 1 ->2
  ASSERT_TRUE(wrapped.Erase(61));                                         // slot 0
  ExpectInvariants(wrapped);
  for (uint32_t key : {13u, 29u, 45u, 77u, 1u}) EXPECT_EQ(*wrapped.Find(key), key) << key;
  EXPECT_EQ(wrapped.slots()[0].key, 77u);
  EXPECT_EQ(wrapped.slots()[1].key, 1u);  // home 1: moves back from 2 into 1
  EXPECT_EQ(wrapped.slots()[2].key, 0u);
}

TEST(FlatHashMapTest, OneLongProbeRun) {
  FlatHashMap<uint32_t, uint32_t, ConstantHash> map;
  for (uint32_t key = 1; key <= 200; ++key) map[key] = key;
  ExpectInvariants(map);
  for (uint32_t key = 1; key <= 200; key += 3) ASSERT_TRUE(map.Erase(key));
  ExpectInvariants(map);
  for (uint32_t key = 1; key <= 200; ++key) {
    EXPECT_EQ(map.contains(key), key % 3 != 1) << key;
  }
}

TEST(FlatHashMapTest, GrowsAtSevenTenths) {
  FlatHashMap<uint32_t, uint32_t> map;
  std::vector<size_t> capacities;
  for (uint32_t key = 1; key <= 100'000; ++key) {
    map[key] = key;
    if (capacities.empty() || capacities.back() != map.capacity()) {
      capacities.push_back(map.capacity());
      // Grown right now: the previous capacity could not hold this entry.
      EXPECT_GT(map.size() * 10, capacities.size() > 1 ? capacities[capacities.size() - 2] * 7 : 0)
          << map.size();
    }
    ASSERT_LE(map.size() * 10, map.capacity() * 7);
  }
  EXPECT_EQ(map.capacity(), 262'144u);  // 100k / 131,072 = 0.76 > 0.7
  for (size_t i = 1; i < capacities.size(); ++i) EXPECT_EQ(capacities[i], capacities[i - 1] * 2);
  ExpectInvariants(map);
  for (uint32_t key = 1; key <= 100'000; ++key) ASSERT_EQ(*map.Find(key), key);
}

TEST(FlatHashMapTest, ShrinksWhenSparseWithoutThrashing) {
  FlatHashMap<uint32_t, uint32_t> map;
  for (uint32_t key = 1; key <= 10'000; ++key) map[key] = key;
  const size_t peak = map.capacity();
  EXPECT_EQ(peak, 16'384u);
  // Down to 1/8 load: no shrink yet.
  for (uint32_t key = 1; map.size() > peak / 8; ++key) map.Erase(key);
  EXPECT_EQ(map.capacity(), peak);
  // One below 1/8: shrinks to at most 35% load.
  map.Erase(static_cast<uint32_t>(10'000 - peak / 8 + 1));
  EXPECT_LT(map.capacity(), peak);
  EXPECT_LE(map.size() * 100, map.capacity() * 35);
  ExpectInvariants(map);
  // Going back up by a few entries does not grow it back.
  const size_t shrunk = map.capacity();
  for (uint32_t key = 1; key <= 100; ++key) map[key] = key;
  EXPECT_EQ(map.capacity(), shrunk);
  // Erasing everything ends at the minimum capacity.
  map.EraseIf([](uint32_t, uint32_t&) { return true; });
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.capacity(), (FlatHashMap<uint32_t, uint32_t>::kMinCapacity));
  map.Shrink();
  EXPECT_EQ(map.capacity(), 0u);
  map[5] = 5;  // usable after being released
  EXPECT_EQ(*map.Find(5), 5u);
}

TEST(FlatHashMapTest, EraseIfSweepsLikeEndPoll) {
  // Sweep half of the entries: the predicate sees every entry exactly once,
  // even when deletions shift entries back across the wrap-around.
  FlatHashMap<uint32_t, Entry, IdentityHash> map;
  std::unordered_map<uint32_t, Entry> reference;
  for (uint32_t key : {14u, 30u, 46u, 62u, 15u, 31u, 1u, 17u, 2u, 7u}) {
    map[key] = Entry{key, key % 2, 0};
    reference[key] = Entry{key, key % 2, 0};
  }
  ASSERT_EQ(map.capacity(), 16u);
  std::unordered_map<uint32_t, int> visits;
  const size_t erased = map.EraseIf([&](uint32_t key, Entry& e) {
    ++visits[key];
    if (e.last_seen == 0) return true;
    e.retry_after = 99;  // kept entries may be modified
    return false;
  });
  EXPECT_EQ(erased, 5u);  // the even keys
  EXPECT_EQ(visits.size(), reference.size());
  for (const auto& [key, count] : visits) EXPECT_EQ(count, 1) << key;
  for (const auto& [key, e] : reference) {
    if (e.last_seen == 0) {
      EXPECT_FALSE(map.contains(key)) << key;
    } else {
      ASSERT_TRUE(map.contains(key)) << key;
      EXPECT_EQ(map.Find(key)->retry_after, 99u);
    }
  }
  ExpectInvariants(map);
}

TEST(FlatHashMapTest, EraseIfVisitsEachEntryOnceAtScale) {
  FlatHashMap<uint32_t, uint32_t> map;
  std::mt19937 rng(11);
  std::unordered_set<uint32_t> keys;
  while (keys.size() < 50'000) keys.insert(static_cast<uint32_t>(rng()) | 1);
  for (uint32_t key : keys) map[key] = 0;
  size_t calls = 0;
  const size_t erased = map.EraseIf([&](uint32_t key, uint32_t& visits) {
    ++calls;
    ++visits;
    return key % 5 != 0;
  });
  EXPECT_EQ(calls, keys.size());
  EXPECT_EQ(erased + map.size(), keys.size());
  map.ForEach([](uint32_t, uint32_t visits) { EXPECT_EQ(visits, 1u); });
  for (uint32_t key : keys) ASSERT_EQ(map.contains(key), key % 5 == 0);
  ExpectInvariants(map);
  EXPECT_LT(map.capacity(), 131'072u);  // shrunk after the sweep
}

TEST(FlatHashMapTest, ClearKeepsTheArrayShrinkLetsGo) {
  FlatHashMap<uint64_t, int64_t> map;
  for (uint64_t key = 0; key < 5'000; ++key) map[key] = 1;
  const size_t capacity = map.capacity();
  map.Clear();
  EXPECT_TRUE(map.empty());
  EXPECT_EQ(map.capacity(), capacity);
  for (uint64_t key = 1; key < 5'000; ++key) EXPECT_FALSE(map.contains(key));
  map.Shrink(4'000);  // a refill of that size expected: keep it
  EXPECT_EQ(map.capacity(), capacity);
  map.Shrink(100);
  EXPECT_LT(map.capacity(), capacity);
  EXPECT_GE(map.capacity() * 7, 200u * 10);
  map.Shrink(0);
  EXPECT_EQ(map.capacity(), 0u);
}

TEST(FlatHashMapTest, ReserveAvoidsGrowth) {
  FlatHashMap<uint32_t, uint32_t> map;
  map.Reserve(70'000);
  const size_t capacity = map.capacity();
  EXPECT_GE(capacity * 7, 70'000u * 10);
  for (uint32_t key = 1; key <= 70'000; ++key) map[key] = key;
  EXPECT_EQ(map.capacity(), capacity);
}

TEST(FlatHashMapTest, CopyMoveSwap) {
  FlatHashMap<uint64_t, int64_t> a;
  for (uint64_t key = 0; key < 1'000; ++key) a[key] = static_cast<int64_t>(key) * 2;
  FlatHashMap<uint64_t, int64_t> b = a;
  a.Erase(10);
  EXPECT_TRUE(b.contains(10));
  EXPECT_EQ(b.size(), 1'000u);
  EXPECT_EQ(*b.Find(0), 0);
  FlatHashMap<uint64_t, int64_t> c = std::move(b);
  EXPECT_EQ(c.size(), 1'000u);
  EXPECT_EQ(*c.Find(999), 1998);
  FlatHashMap<uint64_t, int64_t> d;
  d[5] = 5;
  d.swap(c);
  EXPECT_EQ(d.size(), 1'000u);
  EXPECT_EQ(c.size(), 1u);
  c = d;
  EXPECT_EQ(c.size(), 1'000u);
  d = FlatHashMap<uint64_t, int64_t>();
  EXPECT_EQ(d.capacity(), 0u);
}

TEST(FlatHashMapTest, LargeTablesAreMappedAndReturned) {
  // 1M slots x 16 B: an mmap of its own, given back on shrink.
  FlatHashMap<uint32_t, Entry> map;
  for (uint32_t key = 1; key <= 600'000; ++key) map[key] = Entry{key, 0, 0};
  EXPECT_EQ(map.memory_bytes(), map.capacity() * 16);
  map.EraseIf([](uint32_t key, Entry&) { return key > 100; });
  EXPECT_EQ(map.size(), 100u);
  EXPECT_LE(map.capacity(), 512u);
  for (uint32_t key = 1; key <= 100; ++key) ASSERT_EQ(map.Find(key)->owner, key);
}

// 100k random operations against std::unordered_map, with a fixed seed; keys
// from a small range so that inserts, hits, erasures and misses all happen,
// and the size swings so the table grows and shrinks repeatedly.
TEST(FlatHashMapTest, RandomizedAgainstUnorderedMap) {
  std::mt19937_64 rng(20'240'601);
  FlatHashMap<uint32_t, Entry> map;
  std::unordered_map<uint32_t, Entry> reference;
  size_t grows = 0;
  size_t shrinks = 0;
  for (int op = 0; op < 100'000; ++op) {
    // Phases of 12,500 operations: fill (up to ~3k or ~6k keys), then drain
    // (erasing present keys too, down to nearly nothing).
    const bool draining = (op / 12'500) % 2 == 1;
    const uint32_t range = (op / 25'000) % 2 == 0 ? 4'096 : 32'768;
    auto key = static_cast<uint32_t>(rng() % range);  // includes 0
    const size_t before = map.capacity();
    const int kind = static_cast<int>(rng() % 10);
    if (draining && kind >= 5 && kind < 9 && !reference.empty()) key = reference.begin()->first;
    if (kind < (draining ? 1 : 5)) {
      const Entry e{static_cast<uint32_t>(rng()), static_cast<uint32_t>(op), 0};
      auto [value, inserted] = map.TryEmplace(key, e);
      auto [it, ref_inserted] = reference.try_emplace(key, e);
      ASSERT_EQ(inserted, ref_inserted) << op;
      ASSERT_EQ(*value, it->second) << op;
    } else if (kind < (draining ? 2 : 6)) {
      const Entry e{static_cast<uint32_t>(rng()), static_cast<uint32_t>(op), 1};
      map.InsertOrAssign(key, e);
      reference.insert_or_assign(key, e);
    } else if (kind < (draining ? 9 : 8)) {
      ASSERT_EQ(map.Erase(key), reference.erase(key) == 1) << op;
    } else {
      const Entry* found = map.Find(key);
      auto it = reference.find(key);
      ASSERT_EQ(found != nullptr, it != reference.end()) << op;
      if (found != nullptr) {
        ASSERT_EQ(*found, it->second) << op;
      }
    }
    if (op % 5'000 == 4'999) {
      // A sweep like EndPoll's: drop entries with an odd owner.
      const size_t erased = map.EraseIf([](uint32_t, Entry& e) { return e.owner % 2 == 1; });
      size_t ref_erased = 0;
      for (auto it = reference.begin(); it != reference.end();) {
        if (it->second.owner % 2 == 1) {
          it = reference.erase(it);
          ++ref_erased;
        } else {
          ++it;
        }
      }
      ASSERT_EQ(erased, ref_erased) << op;
    }
    ASSERT_EQ(map.size(), reference.size()) << op;
    grows += map.capacity() > before;
    shrinks += map.capacity() < before;
    if (op % 10'000 == 0) ExpectInvariants(map);
  }
  ExpectInvariants(map);
  size_t seen = 0;
  map.ForEach([&](uint32_t key, const Entry& e) {
    ++seen;
    auto it = reference.find(key);
    ASSERT_NE(it, reference.end()) << key;
    EXPECT_EQ(e, it->second);
  });
  EXPECT_EQ(seen, reference.size());
  EXPECT_GT(grows, 5u);
  EXPECT_GT(shrinks, 2u);
}

// The keys ForEach visits, in visiting order.
std::vector<uint32_t> Keys(const FlatHashSet<uint32_t>& set) {
  std::vector<uint32_t> keys;
  set.ForEach([&keys](uint32_t key) { keys.push_back(key); });
  return keys;
}

TEST(FlatHashSetTest, BehavesLikeUnorderedSet) {
  std::mt19937 rng(5);
  FlatHashSet<uint32_t> set;
  std::unordered_set<uint32_t> reference;
  for (int op = 0; op < 50'000; ++op) {
    const uint32_t key = rng() % 4'096;  // includes 0
    if (rng() % 3 != 0) {
      ASSERT_EQ(set.insert(key), reference.insert(key).second);
    } else {
      ASSERT_EQ(set.erase(key), reference.erase(key));
    }
    ASSERT_EQ(set.size(), reference.size());
    ASSERT_EQ(set.empty(), reference.empty());
  }
  std::vector<uint32_t> iterated = Keys(set);
  std::vector<uint32_t> expected(reference.begin(), reference.end());
  std::sort(iterated.begin(), iterated.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(iterated, expected);
  for (uint32_t key = 0; key < 4'096; ++key) ASSERT_EQ(set.contains(key), reference.contains(key));
  set.clear();
  EXPECT_TRUE(set.empty());
  EXPECT_TRUE(Keys(set).empty());
  set.insert(0);
  EXPECT_EQ(Keys(set), std::vector<uint32_t>{0});
  set.reserve(1'000);
  EXPECT_GE(set.capacity() * 7, 1'000u * 10);
}

}  // namespace
}  // namespace tcpstate

// Records travel from the decoder to the aggregator in runs (RecordSink::OnRecords,
// one datagram's worth) so the owner look-ups of a run overlap their cache misses
// (issue 16); these tests hold the runs to what one-by-one delivery did.
namespace tcpstate {
namespace runs {
TEST(RecordRuns, LargeHashArraysAreAlignedToHugePagesAndZeroed) {
  // 4 MiB: the slot array of ~180,000 cached sockets.
  const size_t bytes = size_t{4} << 20;
  auto* memory = static_cast<uint8_t*>(flat_hash_detail::AllocateZeroed(bytes));
  ASSERT_NE(memory, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(memory) % (size_t{2} << 20), 0u);
  // Offered to transparent huge pages: where THP is "madvise" (Debian's
  // default), only a region given MADV_HUGEPAGE is eligible.
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes((std::istreambuf_iterator<char>(thp)), {});
  if (modes.find("[madvise]") != std::string::npos) {
    std::ifstream smaps("/proc/self/smaps");
    std::string line;
    char start[32];
    std::snprintf(start, sizeof(start), "%lx-",
                  static_cast<unsigned long>(reinterpret_cast<uintptr_t>(memory)));
    bool in_region = false;
    int eligible = -1;
    while (std::getline(smaps, line)) {
      if (line.rfind(start, 0) == 0) in_region = true;
      if (in_region && line.rfind("THPeligible:", 0) == 0) {
        eligible = std::stoi(line.substr(12));
        break;
      }
    }
    EXPECT_EQ(eligible, 1);
  }
  for (size_t i = 0; i < bytes; i += 4096) ASSERT_EQ(memory[i], 0) << i;
  memory[bytes - 1] = 1;  // the whole range is mapped
  flat_hash_detail::Free(memory, bytes);

  FlatHashMap<uint32_t, uint64_t> map;
  for (uint32_t k = 1; k <= 300000; ++k) map.InsertOrAssign(k, k * 2);
  EXPECT_GE(map.memory_bytes(), size_t{2} << 20);
  for (uint32_t k = 1; k <= 300000; k += 7) {
    map.Prefetch(k);
    ASSERT_NE(map.Find(k), nullptr);
    EXPECT_EQ(*map.Find(k), k * 2);
  }
  map.Prefetch(999999);  // absent keys are harmless
  EXPECT_EQ(map.Find(999999), nullptr);
}
}  // namespace runs
}  // namespace tcpstate
