#include "common/flat_hash_map.h"

#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace tcpstate::flat_hash_detail {
namespace {

// From this size on, arrays are mapped directly: munmap returns them to the
// kernel at once. Through malloc, a freed array of this size would raise
// glibc's dynamic mmap threshold and the next ones would come from the heap,
// where freed memory is not always returned.
constexpr size_t kMmapBytes = 64 * 1024;

}  // namespace

void* AllocateZeroed(size_t bytes) {
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
