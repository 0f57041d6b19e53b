#include "procfs/fd_table.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>
#include <string_view>

#include "common/proc_link.h"
#include "common/unique_fd.h"

namespace tcpstate {
namespace {

struct LinuxDirent64 {
  uint64_t d_ino;
  int64_t d_off;
  uint16_t d_reclen;
  uint8_t d_type;
  char d_name[1];
};

}  // namespace

LinkResult ReadFdLink(int dir_fd, uint32_t fd, uint32_t* inode) {
  std::array<char, 16> name{};
  auto [end, ec] = std::to_chars(name.data(), name.data() + name.size() - 1, fd);
  *end = '\0';
  std::array<char, 64> link{};
  const ssize_t n = ::readlinkat(dir_fd, name.data(), link.data(), link.size());
  if (n <= 0) {
    if (errno == EACCES || errno == EPERM) return LinkResult::kDenied;
    return LinkResult::kGone;  // closed meanwhile (ENOENT), or the process exited
  }
  if (ParseProcLink(std::string_view(link.data(), static_cast<size_t>(n)), "socket", inode)) {
    return LinkResult::kSocket;
  }
  return LinkResult::kOther;
}

bool ListFds(int dir_fd, std::vector<uint32_t>* fds) {
  fds->clear();
  if (::lseek(dir_fd, 0, SEEK_SET) < 0) return false;
  alignas(8) std::array<char, 32768> buffer;
  for (;;) {
    const long n = ::syscall(SYS_getdents64, dir_fd, buffer.data(), buffer.size());
    if (n < 0) return false;
    if (n == 0) break;
    for (long offset = 0; offset < n;) {
      const auto* entry = reinterpret_cast<const LinuxDirent64*>(buffer.data() + offset);
      offset += entry->d_reclen;
      const char* name = entry->d_name;
      const char* name_end = name + std::strlen(name);
      uint32_t fd = 0;
      auto [ptr, ec] = std::from_chars(name, name_end, fd);
      if (ec == std::errc() && ptr == name_end && fd < (1U << 31)) fds->push_back(fd);
    }
  }
  // /proc lists fds in order; a fake tree may not.
  if (!std::is_sorted(fds->begin(), fds->end())) std::sort(fds->begin(), fds->end());
  return true;
}

int64_t CountFds(int dir_fd, bool supported) {
  if (!supported) return -1;
  struct stat st {};
  if (::fstat(dir_fd, &st) != 0) return -1;
  return static_cast<int64_t>(st.st_size);
}

bool IsProcfs(const char* proc_root) {
  struct statfs fs {};
  return ::statfs(proc_root, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC;
}

bool ProcCountsFds(const char* proc_root) {
  struct statfs fs {};
  if (::statfs(proc_root, &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) return false;
  // Before 6.2 st_size is 0 for every fd directory: ours has at least this one.
  const std::string self = std::string(proc_root) + "/self/fd";
  UniqueFd dir(::open(self.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.valid()) return false;
  struct stat st {};
  return ::fstat(dir.get(), &st) == 0 && st.st_size > 0;
}

}  // namespace tcpstate
