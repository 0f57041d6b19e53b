#include "procfs/proc_owner_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <string>

#include "common/proc_link.h"
#include "common/unique_fd.h"
#include "common/utf8.h"
#include "netns/netns_discovery.h"
#include "procfs/proc_stat.h"

namespace tcpstate {
namespace {

// Polls an inode stays "owner unknown" before a scan looks for it again.
constexpr uint32_t kNegativeRetryPolls = 10;

// poll >= target, for poll numbers that wrap (never more than a few polls
// apart: entries not seen in a poll are dropped at its end).
bool Reached(uint32_t poll, uint32_t target) { return static_cast<int32_t>(poll - target) >= 0; }

bool ParsePid(const char* name, int32_t* pid) {
  const char* end = name + std::strlen(name);
  auto [ptr, ec] = std::from_chars(name, end, *pid);
  return ec == std::errc() && ptr == end && *pid > 0;
}

// CAP_DAC_READ_SEARCH (2) lists other users' fd directories, CAP_SYS_PTRACE
// (19) reads their links (linux/capability.h).
bool HasCapabilitiesToReadFds() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("CapEff:", 0) != 0) continue;
    const uint64_t effective = std::stoull(line.substr(7), nullptr, 16);
    constexpr uint64_t kNeeded = (uint64_t{1} << 2) | (uint64_t{1} << 19);
    return (effective & kNeeded) == kNeeded;
  }
  return false;
}

}  // namespace

ProcOwnerDirectory::ProcOwnerDirectory(std::filesystem::path proc_root,
                                       std::vector<ProcessGroup> groups)
    : proc_root_(std::move(proc_root)),
      groups_(std::move(groups)),
      self_pid_(static_cast<int32_t>(::getpid())),
      has_read_capabilities_(HasCapabilitiesToReadFds()) {}

std::string ProcOwnerDirectory::LabelFor(const std::string& comm) const {
  std::string clean = SanitizeLabelValue(comm);
  for (const auto& group : groups_) {
    if (re2::RE2::PartialMatch(clean, *group.regex)) return group.name;
  }
  return clean;
}

void ProcOwnerDirectory::BeginPoll() {
  ++poll_;
  // Re-check every owner still referenced: gone, or a new process behind a
  // reused pid, means its cached sockets must be looked up again.
  for (auto it = owners_.begin(); it != owners_.end();) {
    auto& owner = it->second;
    auto identity = owner.sockets > 0 ? ReadProcessIdentity(proc_root_, owner.info.pid)
                                      : Result<ProcessIdentity>(MakeError(ErrorKind::kSystem, "unreferenced", ESRCH));
    if (!identity.ok() || identity->start_time != owner.start_time) {
      pid_owner_.erase(owner.info.pid);
      it = owners_.erase(it);
      continue;
    }
    if (identity->comm != owner.comm) {  // exec or prctl(PR_SET_NAME)
      owner.comm = identity->comm;
      owner.info.name = LabelFor(owner.comm);
    }
    ++it;
  }
}

std::optional<OwnerId> ProcOwnerDirectory::Lookup(uint32_t inode) {
  InodeEntry* entry = inodes_.Find(inode);
  if (entry == nullptr) return std::nullopt;
  if (entry->owner == kOwnerUnknown) {
    if (Reached(poll_, entry->retry_after)) return std::nullopt;
    entry->last_seen = poll_;
    return kOwnerUnknown;
  }
  if (!owners_.contains(entry->owner)) {
    inodes_.Erase(inode);  // the owner exited or was replaced
    return std::nullopt;
  }
  entry->last_seen = poll_;
  return entry->owner;
}

OwnerId ProcOwnerDirectory::OwnerFor(int32_t pid, const std::string& comm, uint64_t start_time) {
  if (auto it = pid_owner_.find(pid); it != pid_owner_.end()) {
    auto& owner = owners_.at(it->second);
    if (owner.start_time == start_time) return it->second;
    owners_.erase(it->second);  // pid reused
    pid_owner_.erase(it);
  }
  OwnerId id = next_id_++;
  if (id >= kOwnerUnknown) id = next_id_ = 0;
  OwnerRecord record;
  record.info = OwnerInfo{pid, LabelFor(comm)};
  record.start_time = start_time;
  record.comm = comm;
  owners_[id] = std::move(record);
  pid_owner_[pid] = id;
  return id;
}

void ProcOwnerDirectory::ScanProcess(int32_t pid, FlatHashSet<uint32_t>& wanted) {
  const auto pid_dir = proc_root_ / std::to_string(pid);
  auto before = ReadProcessIdentity(proc_root_, pid);
  if (!before.ok()) {
    ++stats_.errors_vanished;
    return;
  }
  const auto fd_dir = pid_dir / "fd";
  UniqueFd dir_fd(::open(fd_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd.valid()) {
    if (errno == EACCES || errno == EPERM) {
      ++stats_.errors_permission;
      if (pid != self_pid_) scan_denied_ = true;
    } else if (errno == ENOENT || errno == ESRCH) {
      ++stats_.errors_vanished;
    } else {
      ++stats_.errors_io;
    }
    return;
  }
  // fdopendir takes the fd only on success: until then dir_fd closes it (the
  // process may exit in between: a leaked fd per race, found by the soak).
  DIR* dir = ::fdopendir(dir_fd.get());
  if (dir == nullptr) {
    if (errno == ENOENT || errno == ESRCH) {
      ++stats_.errors_vanished;
    } else {
      ++stats_.errors_io;
    }
    return;
  }
  const int links_fd = dir_fd.release();  // closed by closedir; links read through it
  ++stats_.processes_scanned;
  std::vector<uint32_t> found;
  char link[64];
  bool denied = false;
  for (;;) {
    errno = 0;
    if (Stopping()) break;  // what was found so far is still true
    dirent* entry = ::readdir(dir);
    if (entry == nullptr) break;
    if (entry->d_name[0] == '.') continue;
    const ssize_t n = ::readlinkat(links_fd, entry->d_name, link, sizeof(link));
    ++stats_.fds_read;
    if (n <= 0) {
      // Listing may be allowed while reading the links is not (a process
      // with capabilities we lack): that is a privilege problem, not I/O.
      if (errno == EACCES || errno == EPERM) {
        denied = true;
        break;
      }
      continue;  // the fd was closed meanwhile
    }
    uint32_t inode = 0;
    if (ParseProcLink(std::string_view(link, static_cast<size_t>(n)), "socket", &inode) &&
        wanted.contains(inode)) {
      found.push_back(inode);
    }
  }
  if (denied) {
    ++stats_.errors_permission;
    if (pid != self_pid_) scan_denied_ = true;
  } else if (errno != 0 && errno != ENOENT) {
    ++stats_.errors_io;
  }
  ::closedir(dir);
  if (found.empty()) return;
  // The pid may have been reused while we read its fds: only trust what we
  // read if the same process is still there.
  auto after = ReadProcessIdentity(proc_root_, pid);
  if (!after.ok() || after->start_time != before->start_time) {
    ++stats_.errors_vanished;
    return;
  }
  const OwnerId owner = OwnerFor(pid, after->comm, after->start_time);
  for (uint32_t inode : found) {
    wanted.erase(inode);
    inodes_.InsertOrAssign(inode, InodeEntry{owner, poll_, 0});
  }
}

void ProcOwnerDirectory::Resolve(std::span<const uint32_t> inodes) {
  FlatHashSet<uint32_t> wanted;
  wanted.reserve(inodes.size());
  for (uint32_t inode : inodes) wanted.insert(inode);
  if (wanted.empty()) return;
  // Each wanted inode ends up cached, found or not: growing once, here, spares
  // the peak of rehashing (old and new array at once) in the middle of a scan.
  inodes_.Reserve(inodes_.size() + wanted.size());
  std::unordered_set<int32_t> scanned;
  scan_denied_ = false;
  ScanForWanted(wanted, scanned);
  // A denial is a missing privilege only if we lack the capabilities; with
  // them, a few processes may still refuse (other user namespaces), which
  // the permission error counter shows.
  stats_.available = !scan_denied_ || has_read_capabilities_;
}

void ProcOwnerDirectory::ScanForWanted(FlatHashSet<uint32_t>& wanted,
                                       std::unordered_set<int32_t>& scanned) {
  // Known owners first, busiest first: new sockets usually belong to
  // processes that already hold many.
  std::vector<std::pair<uint64_t, int32_t>> known;
  for (const auto& [id, owner] : owners_) known.emplace_back(owner.sockets, owner.info.pid);
  std::sort(known.rbegin(), known.rend());
  for (const auto& [sockets, pid] : known) {
    if (wanted.empty() || Stopping()) break;
    scanned.insert(pid);
    ScanProcess(pid, wanted);
  }
  if (wanted.empty()) {
    ++stats_.partial_scans;
    return;
  }
  if (Stopping()) return;  // shutting down: leave the rest unsearched, not 'unknown'

  ++stats_.full_scans;
  DIR* proc = ::opendir(proc_root_.c_str());
  if (proc == nullptr) {
    ++stats_.errors_io;
    return;
  }
  while (dirent* entry = ::readdir(proc)) {
    if (wanted.empty() || Stopping()) break;
    int32_t pid = 0;
    if (!ParsePid(entry->d_name, &pid) || scanned.contains(pid)) continue;
    if (!scan_netns_.empty() && !InScannedNamespace(pid)) continue;
    ScanProcess(pid, wanted);
  }
  ::closedir(proc);
  // An aborted scan proves nothing about the processes it did not reach.
  if (Stopping()) return;
  // Not held by any process we can see (another pid namespace, in flight in
  // SCM_RIGHTS, or we lack privileges): do not search again every poll.
  wanted.ForEach([this](uint32_t inode) {
    inodes_.InsertOrAssign(inode, InodeEntry{kOwnerUnknown, poll_, poll_ + kNegativeRetryPolls});
  });
}

bool ProcOwnerDirectory::InScannedNamespace(int32_t pid) const {
  uint64_t inode = 0;
  if (!ReadNetnsInode(proc_root_ / std::to_string(pid) / "ns" / "net", &inode)) {
    return true;  // unknown: do not skip what might hold the socket
  }
  return std::find(scan_netns_.begin(), scan_netns_.end(), inode) != scan_netns_.end();
}

void ProcOwnerDirectory::EndPoll() {
  for (auto& [id, owner] : owners_) owner.sockets = 0;
  // Also shrinks the cache when most of it went away.
  inodes_.EraseIf([this](uint32_t, const InodeEntry& entry) {
    if (entry.last_seen != poll_) return true;
    if (auto owner = owners_.find(entry.owner); owner != owners_.end()) ++owner->second.sockets;
    return false;
  });
}

const OwnerInfo& ProcOwnerDirectory::Owner(OwnerId id) const {
  auto it = owners_.find(id);
  return it == owners_.end() ? unknown_ : it->second.info;
}

}  // namespace tcpstate
