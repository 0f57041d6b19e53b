#include "netns/netns_discovery.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>

#include "common/proc_link.h"
#include "common/unique_dir.h"

namespace tcpstate {
namespace {

constexpr size_t kPidsPerNamespace = 4;

}  // namespace

bool ParseNetnsLink(std::string_view link, uint64_t* inode) {
  return ParseProcLink(link, "net", inode);
}

bool ReadNetnsInode(const std::filesystem::path& link_path, uint64_t* inode) {
  char link[64];
  const ssize_t n = ::readlink(link_path.c_str(), link, sizeof(link));
  return n > 0 && ParseNetnsLink(std::string_view(link, static_cast<size_t>(n)), inode);
}

std::vector<NetnsInfo> DiscoverNetns(const std::filesystem::path& proc_root, uint64_t fallback_host,
                                     DiscoveryStats& stats) {
  uint64_t host_inode = 0;
  if (!ReadNetnsInode(proc_root / "1" / "ns" / "net", &host_inode)) host_inode = fallback_host;
  std::map<uint64_t, NetnsInfo> by_inode;
  const UniqueDir proc = OpenDir(proc_root.c_str());
  if (!proc) return {};
  while (dirent* entry = ::readdir(proc.get())) {
    int32_t pid = 0;
    const char* name = entry->d_name;
    auto [ptr, ec] = std::from_chars(name, name + std::strlen(name), pid);
    if (ec != std::errc() || *ptr != '\0' || pid <= 0) continue;
    uint64_t inode = 0;
    if (!ReadNetnsInode(proc_root / name / "ns" / "net", &inode)) {
      // Kernel threads have no readable link either; only count EACCES.
      if (errno == EACCES || errno == EPERM) ++stats.unreadable;
      continue;
    }
    NetnsInfo& info = by_inode[inode];
    info.inode = inode;
    info.host = inode == host_inode;
    if (info.pids.size() < kPidsPerNamespace) info.pids.push_back(pid);
  }
  std::vector<NetnsInfo> out;
  for (auto& [inode, info] : by_inode) out.push_back(std::move(info));
  std::stable_partition(out.begin(), out.end(), [](const NetnsInfo& n) { return n.host; });
  return out;
}

Result<UniqueFd> OpenNetns(const std::filesystem::path& proc_root, const NetnsInfo& info) {
  int last_errno = ENOENT;
  for (int32_t pid : info.pids) {
    const auto path = proc_root / std::to_string(pid) / "ns" / "net";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
      last_errno = errno;
      continue;
    }
    // The pid may have been reused by a process in another namespace; the
    // fd itself tells which namespace we hold.
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || st.st_ino != info.inode) {
      last_errno = ENOENT;
      continue;
    }
    return fd;
  }
  return ErrnoError(last_errno, "open network namespace " + std::to_string(info.inode));
}

Status EnterNetns(const UniqueFd& netns) {
  if (::setns(netns.get(), CLONE_NEWNET) != 0) return ErrnoError(errno, "setns(CLONE_NEWNET)");
  return OkStatus();
}

}  // namespace tcpstate
