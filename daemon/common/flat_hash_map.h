// Compact hash map and set for integer keys (socket inodes, socket cookies):
// open addressing with linear probing over one power-of-two array of
// {key, value} slots, so an entry costs sizeof(Slot) / load (23-46 bytes
// for 16-byte slots) instead of a heap node, a bucket pointer and malloc's
// overhead: the owner cache took 70 bytes a socket as a std::unordered_map
// (bench/micro/attribution_memory.cpp).
//
//  - Key 0 marks an empty slot, so a fresh array is all zero bytes (calloc,
//    or untouched mmap pages). A real key 0 is kept beside the array, so
//    every key works; the exporter's keys are never 0 anyway (see
//    procfs/proc_owner_directory.h).
//  - Deletion shifts the rest of the probe run back (no tombstones): look-ups
//    never slow down with churn, and the table needs no periodic rebuild.
//  - Grows (doubling) above 7/10 load; shrinks when below 1/8 after an erase
//    (to a load of at most 35%, so it does not flip between two sizes), so
//    its memory follows the entry count down after a spike. Arrays of 64 KiB
//    and more come straight from mmap and go back to the kernel when freed,
//    whatever malloc's heap looks like.
//
// Not thread-safe. Pointers to values are invalidated by any insertion or
// erasure. Values must be trivially copyable (slots are moved by copy).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <utility>

namespace tcpstate {

namespace flat_hash_detail {

// Zero-filled memory; throws std::bad_alloc. Free with the same size.
void* AllocateZeroed(size_t bytes);
void Free(void* memory, size_t bytes);

}  // namespace flat_hash_detail

// Home slot = hash & (capacity - 1), so the low bits must depend on every
// key bit. MurmurHash3's 64-bit finalizer: inodes and cookies come in
// near-sequential runs, which a single multiply spreads into regular
// patterns that lengthen linear probe runs (3.4 probes per hit at 0.69 load
// instead of the 2.1 of a random hash).
template <typename K>
struct FlatHash {
  uint64_t operator()(K key) const {
    uint64_t x = static_cast<uint64_t>(key);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
  }
};

template <typename K, typename V, typename Hash = FlatHash<K>>
class FlatHashMap {
  static_assert(std::is_unsigned_v<K> && std::is_integral_v<K>, "unsigned integer keys only");

 public:
  struct Slot {
    K key;  // 0: empty
    [[no_unique_address]] V value;
  };
  static constexpr size_t kMinCapacity = 16;

  FlatHashMap() = default;
  FlatHashMap(const FlatHashMap& other) { *this = other; }
  FlatHashMap(FlatHashMap&& other) noexcept { swap(other); }
  FlatHashMap& operator=(const FlatHashMap& other) {
    if (this == &other) return *this;
    Release();
    if (other.slots_ != nullptr) {
      slots_ = Allocate(other.capacity());
      std::memcpy(static_cast<void*>(slots_), other.slots_, other.capacity() * sizeof(Slot));
      mask_ = other.mask_;
      size_ = other.size_;
    }
    has_zero_ = other.has_zero_;
    zero_value_ = other.zero_value_;
    return *this;
  }
  FlatHashMap& operator=(FlatHashMap&& other) noexcept {
    if (this != &other) {
      Release();
      swap(other);
    }
    return *this;
  }
  ~FlatHashMap() {
    // Here rather than at class scope: a value type nested in the class that
    // holds the map is complete (with its default member initializers) only
    // once that class is.
    static_assert(std::is_trivially_copyable_v<V> && std::is_default_constructible_v<V>);
    Release();
  }

  void swap(FlatHashMap& other) noexcept {
    std::swap(slots_, other.slots_);
    std::swap(mask_, other.mask_);
    std::swap(size_, other.size_);
    std::swap(has_zero_, other.has_zero_);
    std::swap(zero_value_, other.zero_value_);
  }

  size_t size() const { return size_ + (has_zero_ ? 1 : 0); }
  bool empty() const { return size() == 0; }
  // Slots in the array (0 before the first insertion).
  size_t capacity() const { return slots_ == nullptr ? 0 : mask_ + 1; }
  size_t memory_bytes() const { return capacity() * sizeof(Slot); }

  V* Find(K key) {
    if (key == 0) return has_zero_ ? &zero_value_ : nullptr;
    if (slots_ == nullptr) return nullptr;
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      Slot& slot = slots_[i];
      if (slot.key == key) return &slot.value;
      if (slot.key == 0) return nullptr;
    }
  }
  const V* Find(K key) const { return const_cast<FlatHashMap*>(this)->Find(key); }
  bool contains(K key) const { return Find(key) != nullptr; }
  // Starts loading the cache line `key`'s search begins at. A table larger
  // than the CPU cache costs a memory round trip a look-up; prefetching a
  // batch of keys first lets those round trips overlap.
  void Prefetch(K key) const {
    if (slots_ != nullptr) __builtin_prefetch(&slots_[Home(key)], 0);
  }

  // Inserts `value` unless `key` is present; returns the value in the map and
  // whether it was inserted.
  std::pair<V*, bool> TryEmplace(K key, const V& value) {
    if (key == 0) {
      if (has_zero_) return {&zero_value_, false};
      has_zero_ = true;
      zero_value_ = value;
      return {&zero_value_, true};
    }
    if (slots_ != nullptr) {
      size_t i = Home(key);
      for (; slots_[i].key != 0; i = (i + 1) & mask_) {
        if (slots_[i].key == key) return {&slots_[i].value, false};
      }
      if (!NeedsGrowth(size_ + 1)) {
        slots_[i] = Slot{key, value};
        ++size_;
        return {&slots_[i].value, true};
      }
    }
    Rehash(CapacityFor(size_ + 1));
    Slot& slot = slots_[EmptySlotFor(key)];
    slot = Slot{key, value};
    ++size_;
    return {&slot.value, true};
  }
  void InsertOrAssign(K key, const V& value) {
    auto [stored, inserted] = TryEmplace(key, value);
    if (!inserted) *stored = value;
  }
  V& operator[](K key) { return *TryEmplace(key, V{}).first; }

  // Returns whether `key` was there.
  bool Erase(K key) {
    if (key == 0) {
      const bool had = has_zero_;
      has_zero_ = false;
      zero_value_ = V{};
      return had;
    }
    if (slots_ == nullptr) return false;
    for (size_t i = Home(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) {
        EraseAt(i);
        MaybeShrink();
        return true;
      }
      if (slots_[i].key == 0) return false;
    }
  }

  // Calls pred(key, value&) once for every entry and erases those for which
  // it returns true; returns how many. pred may modify the values it keeps
  // but must not touch the map.
  template <typename Pred>
  size_t EraseIf(Pred pred) {
    size_t erased = 0;
    if (has_zero_ && pred(K{0}, zero_value_)) {
      has_zero_ = false;
      zero_value_ = V{};
      ++erased;
    }
    if (slots_ == nullptr || size_ == 0) {
      MaybeShrink();
      return erased;
    }
    // Start after an empty slot: a probe run then never wraps past the start,
    // so the entries a deletion shifts back come from slots not visited yet
    // and land on the current slot, which is examined again.
    size_t start = 0;
    while (slots_[start].key != 0) ++start;  // load <= 7/10: one exists
    size_t i = (start + 1) & mask_;
    for (size_t left = mask_; left > 0;) {
      Slot& slot = slots_[i];
      if (slot.key != 0 && pred(slot.key, slot.value)) {
        EraseAt(i);
        ++erased;
        continue;
      }
      i = (i + 1) & mask_;
      --left;
    }
    MaybeShrink();
    return erased;
  }

  // Calls f(key, const value&) for every entry, in no particular order. f
  // must not insert or erase.
  template <typename F>
  void ForEach(F f) const {
    if (has_zero_) f(K{0}, static_cast<const V&>(zero_value_));
    for (size_t i = 0; i < capacity(); ++i) {
      if (slots_[i].key != 0) f(slots_[i].key, static_cast<const V&>(slots_[i].value));
    }
  }

  // Removes every entry and keeps the array for a refill of a similar size
  // (see Shrink).
  void Clear() {
    if (slots_ != nullptr && size_ > 0) {
      std::memset(static_cast<void*>(slots_), 0, capacity() * sizeof(Slot));
    }
    size_ = 0;
    has_zero_ = false;
    zero_value_ = V{};
  }

  // Makes room for `entries` without growing on the way.
  void Reserve(size_t entries) {
    if (entries > 0 && CapacityFor(entries) > capacity()) Rehash(CapacityFor(entries));
  }

  // Gives memory back when the array is more than 8x what max(size(),
  // `expected`) entries need at the shrink rule's load; with no entries and
  // nothing expected, frees the array altogether.
  void Shrink(size_t expected = 0) {
    const size_t want = std::max(size_, expected);
    if (want == 0) {
      Release();
      return;
    }
    if (slots_ != nullptr && capacity() > kMinCapacity && want * 8 < capacity()) {
      Rehash(CapacityFor(want * 2));
    }
  }

  // The array (tests and diagnostics): slot i holds an entry iff key != 0.
  std::span<const Slot> slots() const { return {slots_, capacity()}; }
  size_t HomeOf(K key) const { return Home(key); }

 private:
  static bool Overloaded(size_t entries, size_t capacity) { return entries * 10 > capacity * 7; }
  bool NeedsGrowth(size_t entries) const { return Overloaded(entries, capacity()); }
  static size_t CapacityFor(size_t entries) {
    size_t capacity = kMinCapacity;
    while (Overloaded(entries, capacity)) capacity *= 2;
    return capacity;
  }
  size_t Home(K key) const { return static_cast<size_t>(Hash{}(key)) & mask_; }
  size_t EmptySlotFor(K key) const {
    size_t i = Home(key);
    while (slots_[i].key != 0) i = (i + 1) & mask_;
    return i;
  }

  // Backward-shift deletion: walks the probe run after `hole` and moves back
  // every entry whose home is not between the hole and itself (cyclically),
  // so each entry stays reachable from its home without crossing an empty
  // slot.
  void EraseAt(size_t hole) {
    for (size_t j = (hole + 1) & mask_;; j = (j + 1) & mask_) {
      const K key = slots_[j].key;
      if (key == 0) break;
      const size_t home = Home(key);
      if (((j - home) & mask_) >= ((j - hole) & mask_)) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  void MaybeShrink() {
    if (capacity() > kMinCapacity && size_ * 8 < capacity()) Rehash(CapacityFor(size_ * 2));
  }

  static Slot* Allocate(size_t capacity) {
    static_assert(alignof(Slot) <= alignof(std::max_align_t));
    return static_cast<Slot*>(flat_hash_detail::AllocateZeroed(capacity * sizeof(Slot)));
  }
  void Release() {
    if (slots_ != nullptr) flat_hash_detail::Free(slots_, capacity() * sizeof(Slot));
    slots_ = nullptr;
    mask_ = 0;
    size_ = 0;
  }

  void Rehash(size_t capacity) {
    Slot* old = slots_;
    const size_t old_capacity = this->capacity();
    slots_ = Allocate(capacity);
    mask_ = capacity - 1;
    for (size_t i = 0; i < old_capacity; ++i) {
      if (old[i].key != 0) slots_[EmptySlotFor(old[i].key)] = old[i];
    }
    if (old != nullptr) flat_hash_detail::Free(old, old_capacity * sizeof(Slot));
  }

  Slot* slots_ = nullptr;
  size_t mask_ = 0;
  size_t size_ = 0;  // entries in slots_ (key 0 excluded)
  bool has_zero_ = false;
  V zero_value_{};
};

// A set with the subset of std::unordered_set's interface the exporter uses
// (insert, erase, contains, size, empty, clear, reserve), and ForEach.
template <typename K, typename Hash = FlatHash<K>>
class FlatHashSet {
 public:
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  size_t capacity() const { return map_.capacity(); }
  size_t memory_bytes() const { return map_.memory_bytes(); }
  bool contains(K key) const { return map_.contains(key); }
  bool insert(K key) { return map_.TryEmplace(key, Empty{}).second; }
  size_t erase(K key) { return map_.Erase(key) ? 1 : 0; }
  void clear() { map_.Clear(); }
  void reserve(size_t entries) { map_.Reserve(entries); }

  // Calls f(key) for every key, in no particular order; f must not insert
  // or erase.
  template <typename F>
  void ForEach(F f) const {
    map_.ForEach([&f](K key, const Empty&) { f(key); });
  }

 private:
  struct Empty {};
  FlatHashMap<K, Empty, Hash> map_;
};

}  // namespace tcpstate
