#include "common/flat_hash_map.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <new>

namespace tcpstate::flat_hash_detail {
namespace {

// From this size on, arrays are mapped directly: munmap returns them to the
// kernel at once. Through malloc, a freed array of this size would raise
// glibc's dynamic mmap threshold and the next ones would come from the heap,
// where freed memory is not always returned.
constexpr size_t kMmapBytes = size_t{64} * 1024;

// Arrays of a huge page or more are aligned to one and their whole huge
// pages offered to transparent huge pages: a look-up lands on a random slot,
// so with 4 KiB pages every look-up in a table of 100,000 sockets also misses
// the TLB (a two-level walk under a hypervisor) after the socket dump has
// flushed it. The tail after the last whole huge page keeps small pages, so
// an array of 12-byte slots (3 MiB at 262,144) backs no memory it does not
// touch.
constexpr size_t kHugePage = size_t{2} * 1024 * 1024;

void* MapHugeAligned(size_t bytes) {
  void* raw = ::mmap(nullptr, bytes + kHugePage, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const auto start = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (start + kHugePage - 1) & ~(kHugePage - 1);
  if (aligned > start) ::munmap(raw, aligned - start);
  const uintptr_t end = start + bytes + kHugePage;
  if (end > aligned + bytes)
    ::munmap(reinterpret_cast<void*>(aligned + bytes), end - aligned - bytes);
  void* memory = reinterpret_cast<void*>(aligned);
  // A hint: without THP, plain pages.
  ::madvise(memory, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);
  return memory;
}

}  // namespace

void* AllocateZeroed(size_t bytes) {
  if (bytes >= kHugePage) return MapHugeAligned(bytes);
  if (bytes >= kMmapBytes) {
    void* memory =
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    return memory;  // anonymous pages read as zero until written
  }
  void* memory = std::calloc(1, bytes);
  if (memory == nullptr) throw std::bad_alloc();
  return memory;
}

void Free(void* memory, size_t bytes) {
  if (memory == nullptr) return;
  if (bytes >= kMmapBytes) {
    ::munmap(memory, bytes);
  } else {
    std::free(memory);
  }
}

}  // namespace tcpstate::flat_hash_detail
