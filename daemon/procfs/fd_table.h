// What one process's fd numbers point to, as far as socket attribution needs
// it, and the two ways of reading /proc/<pid>/fd: listing the directory (fd
// numbers only, getdents64) and reading one link (readlinkat).
//
// Findings on Linux 6.18 (docs/attribution.md has the measurements): a
// listing costs 0.6-2 us per fd, a link read 4-7 us; stat() through the link
// (st_ino = the socket inode) costs the same as readlink; the directory
// entry's d_ino and lstat() of the link belong to the /proc dentry, which the
// kernel keeps when the fd number is closed and reused, so neither tells a
// reused fd number apart; st_size of the directory is the number of open fds
// (Linux 6.2+), one stat for the whole table.
#pragma once

#include <cstdint>
#include <vector>

namespace tcpstate {

// 8 bytes an fd. inode 0: not a socket.
struct FdEntry {
  uint32_t fd : 31;
  // The link was read twice, its socket not in the dump either time (UDP,
  // UNIX, a TCP socket in a state not asked for): not worth reading again
  // unless a socket cannot be found otherwise.
  uint32_t quiet : 1;
  uint32_t inode;
};
static_assert(sizeof(FdEntry) == 8);

// fd numbers fit in 31 bits (the kernel caps them below INT_MAX).
inline constexpr uint32_t kFdMask = 0x7fffffffU;

// Sorted by fd.
using FdTable = std::vector<FdEntry>;

enum class LinkResult { kSocket, kOther, kGone, kDenied };

// readlinkat(dir_fd, "<fd>"): kSocket with *inode for "socket:[N]".
LinkResult ReadFdLink(int dir_fd, uint32_t fd, uint32_t* inode);

// The fd numbers in an open /proc/<pid>/fd (sorted). False with errno on a
// failed getdents64.
bool ListFds(int dir_fd, std::vector<uint32_t>* fds);

// Open fds of the process behind dir_fd (st_size of /proc/<pid>/fd), or -1
// where the kernel does not count them (before 6.2, not procfs).
int64_t CountFds(int dir_fd, bool supported);

// Whether `proc_root` is a procfs (not a recorded tree, as the golden test's).
bool IsProcfs(const char* proc_root);

// Whether `proc_root` is a procfs that counts fds in st_size.
bool ProcCountsFds(const char* proc_root);

}  // namespace tcpstate
