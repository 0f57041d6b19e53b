#include "procfs/proc_owner_directory.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <tuple>

#include "common/proc_link.h"
#include "common/unique_dir.h"
#include "common/unique_fd.h"
#include "common/utf8.h"
#include "netns/netns_discovery.h"
#include "procfs/fd_table.h"
#include "procfs/proc_limits.h"
#include "procfs/proc_stat.h"

namespace tcpstate {
namespace {

// Polls an inode stays "owner unknown" before a scan looks for it again.
constexpr uint32_t kNegativeRetryPolls = 10;
// fd numbers probed without finding an open fd, beyond those the fd count
// says were opened, before a probe gives up and lists the directory.
constexpr int64_t kProbeSlack = 32;
// Free fd numbers in a row after which a probe stops once the count is met.
constexpr int64_t kProbeRun = 8;
// A process holding F fds is listed at most every F / this many polls when its
// fd count disagrees with its table (0.1-2 us an fd: ~1.5 ms a poll at most).
constexpr size_t kFdsPerListingPoll = 1000;
// How much longer the spacing is when the gap is no larger than the churn.
constexpr size_t kChurnListingSpacing = 4;
// Marks a table entry for removal.
constexpr uint32_t kGoneFd = 0x7fffffffU;
// fds of shared sockets re-read per poll when nothing else asks for it.
constexpr size_t kSharedChecksPerPoll = 64;

// poll >= target, for poll numbers that wrap (never more than a few polls
// apart: entries not seen in a poll are dropped at its end).
bool Reached(uint32_t poll, uint32_t target) { return static_cast<int32_t>(poll - target) >= 0; }
// The same for a target kept modulo 2^31 (an InodeEntry's aux).
bool Reached31(uint32_t poll, uint32_t target) {
  return ((poll - target) & 0x7fffffffU) < (1U << 30);
}

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
      has_read_capabilities_(HasCapabilitiesToReadFds()),
      counts_fds_(ProcCountsFds(proc_root_.c_str())),
      recorded_tree_(!IsProcfs(proc_root_.c_str())) {}

std::string ProcOwnerDirectory::LabelFor(const std::string& comm) const {
  std::string clean = SanitizeLabelValue(comm);
  for (const auto& group : groups_) {
    if (re2::RE2::PartialMatch(clean, *group.regex)) return group.name;
  }
  return clean;
}

void ProcOwnerDirectory::BeginPoll() {
  // The parity bit tells "seen in this poll" only if every entry left was
  // seen in the previous one.
  if (!poll_ended_) DropUnseen();
  ++poll_;
  poll_ended_ = false;
  // Re-check every owner still referenced: gone, or a new process behind a
  // reused pid, means its cached sockets must be looked up again.
  for (auto it = owners_.begin(); it != owners_.end();) {
    auto& owner = it->second;
    auto identity =
        owner.sockets > 0
            ? ReadProcessIdentity(proc_root_, owner.info.pid)
            : Result<ProcessIdentity>(MakeError(ErrorKind::kSystem, "unreferenced", ESRCH));
    if (!identity.ok() || identity->start_time != owner.start_time) {
      if (auto pid = pid_owner_.find(owner.info.pid);
          pid != pid_owner_.end() && pid->second == it->first) {
        pid_owner_.erase(pid);
      }
      removed_owners_.insert(it->first);
      it = owners_.erase(it);
      continue;
    }
    if (identity->comm != owner.comm) {  // exec or prctl(PR_SET_NAME)
      owner.comm = identity->comm;
      owner.info.name = LabelFor(owner.comm);
    }
    ++it;
  }
  // Lookup trusts that a cached owner exists: drop the sockets of the owners
  // removed since the last poll in one pass (a process exit costs one sweep of
  // the cache, not a map look-up per socket of every poll).
  if (!removed_owners_.empty()) {
    inodes_.EraseIf([this](uint32_t, const InodeEntry& entry) {
      return removed_owners_.contains(entry.owner);
    });
    shared_.EraseIf([this](uint32_t inode, uint32_t) { return !inodes_.contains(inode); });
    removed_owners_.clear();
  }
}

std::optional<OwnerId> ProcOwnerDirectory::Lookup(uint32_t inode) {
  InodeEntry* entry = inodes_.Find(inode);
  if (entry == nullptr) return std::nullopt;
  if (entry->owner == kOwnerUnknown || entry->owner == kOwnerRetry) {
    if (Reached31(poll_, Aux(*entry))) return std::nullopt;
    MarkSeen(*entry);
    return kOwnerUnknown;
  }
  // Never a removed owner: BeginPoll dropped their entries.
  MarkSeen(*entry);
  return entry->owner;
}

OwnerId ProcOwnerDirectory::OwnerFor(int32_t pid, const std::string& comm, uint64_t start_time) {
  if (auto it = pid_owner_.find(pid); it != pid_owner_.end()) {
    auto& owner = owners_.at(it->second);
    if (owner.start_time == start_time) return it->second;
    removed_owners_.insert(it->second);
    owners_.erase(it->second);  // pid reused
    pid_owner_.erase(it);
  }
  // Ids wrap after 2^32 - 3 owners; one still in use is never handed out
  // again (its sockets would take the new owner's name). Fewer owners than
  // ids exist, so the search ends.
  OwnerId id = next_id_;
  do {
    if (id >= kOwnerRetry) id = 0;
  } while ((owners_.contains(id) || removed_owners_.contains(id)) && ++id != next_id_);
  next_id_ = id + 1;
  OwnerRecord record;
  record.info = OwnerInfo{pid, LabelFor(comm)};
  record.start_time = start_time;
  record.comm = comm;
  owners_[id] = std::move(record);
  pid_owner_[pid] = id;
  return id;
}

void ProcOwnerDirectory::ForgetOwner(OwnerId id) {
  auto it = owners_.find(id);
  if (it == owners_.end()) return;
  if (auto pid = pid_owner_.find(it->second.info.pid);
      pid != pid_owner_.end() && pid->second == id) {
    pid_owner_.erase(pid);
  }
  removed_owners_.insert(id);
  owners_.erase(it);
}

int64_t ProcOwnerDirectory::CountOpenFds(int dir_fd) const {
  if (count_by_listing_) {
    std::vector<uint32_t> fds;
    return ListFds(dir_fd, &fds) ? static_cast<int64_t>(fds.size()) : -1;
  }
  return CountFds(dir_fd, counts_fds_);
}

bool ProcOwnerDirectory::InDump(uint32_t inode, const FlatHashSet<uint32_t>& wanted) {
  if (wanted.contains(inode)) return true;
  ++stats_.cache_probes;
  const InodeEntry* entry = inodes_.Find(inode);
  return entry != nullptr && SeenThisPoll(*entry);
}

const std::vector<uint64_t>& ProcOwnerDirectory::SeenFdsOf(OwnerId id) {
  static const std::vector<uint64_t> kNone;
  if (!seen_built_ || seen_poll_ != poll_) {
    // One sweep of the cache (sequential memory) instead of a look-up per fd
    // of every table searched (random memory): for each owner, the fd
    // numbers whose cached socket the dump showed. A cache entry names the
    // fd its owner's table shows for that socket, so a set bit means the
    // table's socket at that fd is in the dump.
    seen_built_ = true;
    seen_poll_ = poll_;
    seen_index_.Clear();
    size_t used = 0;
    inodes_.ForEach([&](uint32_t, const InodeEntry& entry) {
      if (!SeenThisPoll(entry) || entry.owner >= kOwnerRetry) return;
      auto [slot, added] = seen_index_.TryEmplace(entry.owner, kNoSeenFds);
      if (added) {
        auto owner = owners_.find(entry.owner);
        if (owner == owners_.end() || owner->second.fds.empty()) return;
        const FdTable& table = owner->second.fds;
        // Bounded by the table (a process may hold one fd near 2^31): fds
        // above the bitmap are looked up in the cache.
        const size_t bits = std::min<size_t>(table.back().fd + 1, 4 * table.size() + kSeenFdsSlack);
        if (used == seen_fds_.size()) seen_fds_.emplace_back();
        seen_fds_[used].assign((bits + 63) / 64, 0);
        *slot = static_cast<uint32_t>(used++);
      }
      if (*slot == kNoSeenFds) return;
      std::vector<uint64_t>& words = seen_fds_[*slot];
      const uint32_t fd = Aux(entry);
      if (fd / 64 < words.size()) words[fd / 64] |= uint64_t{1} << (fd % 64);
    });
    // Bitmaps of owners gone since an earlier poll are not kept.
    seen_fds_.resize(used);
  }
  const uint32_t* slot = seen_index_.Find(id);
  return slot == nullptr || *slot == kNoSeenFds ? kNone : seen_fds_[*slot];
}

bool ProcOwnerDirectory::OpenFdDir(int32_t pid, UniqueFd* dir) {
  const auto fd_dir = proc_root_ / std::to_string(pid) / "fd";
  dir->reset(::open(fd_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir->valid()) return true;
  if (errno == EACCES || errno == EPERM) {
    ++stats_.errors_permission;
    if (pid != self_pid_) scan_denied_ = true;
  } else if (errno == ENOENT || errno == ESRCH) {
    ++stats_.errors_vanished;
  } else {
    ++stats_.errors_io;
  }
  return false;
}

void ProcOwnerDirectory::Credit(OwnerId owner, uint32_t inode, uint32_t fd,
                                FlatHashSet<uint32_t>& wanted) {
  InodeEntry* entry = inodes_.Find(inode);
  if (entry == nullptr) return;  // not in this dump
  if (entry->owner == owner && Aux(*entry) != fd) {
    // Two fds of one process (dup): either may be closed and reused unseen.
    shared_.InsertOrAssign(inode, poll_);
  }
  if (entry->owner != owner && entry->owner != kOwnerUnknown && entry->owner != kOwnerRetry) {
    auto holder = owners_.find(entry->owner);
    if (holder != owners_.end()) {
      // The cache gives this socket to another process's fd: true if that fd
      // still holds it (a shared socket: fork, dup'ed by SCM_RIGHTS), stale if
      // the fd number was reused since (the socket was passed on and closed).
      const auto path =
          proc_root_ / std::to_string(holder->second.info.pid) / "fd" / std::to_string(Aux(*entry));
      char link[64];
      const ssize_t n = ::readlink(path.c_str(), link, sizeof(link));
      ++stats_.fds_read;
      ++stats_.fds_revalidated;
      uint32_t now = 0;
      const bool is_socket =
          n > 0 && ParseProcLink(std::string_view(link, static_cast<size_t>(n)), "socket", &now);
      if (is_socket && now == inode) {  // still held there too: keep it
        shared_.InsertOrAssign(inode, poll_);
        return;
      }
      if (n <= 0 && (errno == EACCES || errno == EPERM)) return;
      auto& table = holder->second.fds;
      const uint32_t held_fd = Aux(*entry);
      auto at = std::lower_bound(table.begin(), table.end(), held_fd,
                                 [](const FdEntry& e, uint32_t f) { return e.fd < f; });
      if (at != table.end() && at->fd == held_fd) {
        if (n <= 0) {
          table.erase(at);
        } else {
          at->inode = is_socket ? now : 0;
          at->quiet = 0;
          if (is_socket && wanted.contains(now)) {  // the reused fd's new socket
            wanted.erase(now);
            inodes_.InsertOrAssign(now, Entry(holder->first, held_fd));
            entry = inodes_.Find(inode);  // the insertion may have moved it
          }
        }
      }
    }
  }
  entry->owner = owner;
  SetAux(*entry, fd);
}

void ProcOwnerDirectory::Uncredit(OwnerId owner, uint32_t inode, uint32_t fd) {
  InodeEntry* entry = inodes_.Find(inode);
  if (entry == nullptr || entry->owner != owner || Aux(*entry) != fd) return;
  const auto& table = owners_.at(owner).fds;
  for (const FdEntry& e : table) {  // dup: another fd of the owner may hold it
    if (e.inode == inode && e.fd != fd && e.fd != kGoneFd) {
      SetAux(*entry, e.fd);
      return;
    }
  }
  inodes_.Erase(inode);  // looked up again when the dump next shows it
}

void ProcOwnerDirectory::SyncOwner(OwnerId id, FlatHashSet<uint32_t>& wanted, SyncMode mode) {
  auto record = owners_.find(id);
  if (record == owners_.end()) return;
  const int32_t pid = record->second.info.pid;
  const uint64_t start_time = record->second.start_time;
  UniqueFd dir;
  if (!OpenFdDir(pid, &dir)) return;
  ++stats_.processes_scanned;
  record->second.synced_poll = poll_;
  FdTable& table = record->second.fds;
  std::vector<Found> found;
  bool denied = false;
  bool stopped = false;

  // A socket inode just read at `fd`: wanted, or in the dump (maybe cached
  // for another fd). Not in the dump: a socket of another kind, or a TCP
  // socket newer than the dump; the next read of the table tells which.
  auto classify = [&](const FdEntry& e) {
    if (e.inode == 0) return;
    if (wanted.contains(e.inode)) {
      found.push_back({e.inode, e.fd});
    } else if (InDump(e.inode, wanted)) {
      Credit(id, e.inode, e.fd, wanted);
    }
  };
  // Reads one link into a new entry; false when it is not open.
  auto read_new = [&](uint32_t fd, FdEntry* e) {
    uint32_t inode = 0;
    ++stats_.fds_read;
    switch (ReadFdLink(dir.get(), fd, &inode)) {
      case LinkResult::kDenied:
        denied = true;
        return false;
      case LinkResult::kGone:
        return false;
      case LinkResult::kOther:
        *e = FdEntry{fd & kFdMask, 0, 0};
        return true;
      case LinkResult::kSocket:
        *e = FdEntry{fd & kFdMask, 0, inode};
        return true;
    }
    return false;
  };
  auto uncredit_gone = [&](const FdEntry& e) {
    if (e.inode != 0) Uncredit(id, e.inode, e.fd);
  };
  // Makes the table what a listing shows: drops closed fds, reads new ones
  // (and, with kEverything, every one again).
  auto reconcile = [&](bool everything) {
    std::vector<uint32_t> listed;
    if (!ListFds(dir.get(), &listed)) {
      if (errno == ENOENT || errno == ESRCH) {
        ++stats_.errors_vanished;
      } else {
        ++stats_.errors_io;
      }
      return;
    }
    ++stats_.fd_dirs_listed;
    record->second.listed_poll = poll_;
    FdTable next;
    next.reserve(listed.size());
    size_t i = 0;
    for (uint32_t fd : listed) {
      if (Stopping() || denied) {
        stopped = Stopping();
        break;
      }
      while (i < table.size() && table[i].fd < fd) uncredit_gone(table[i++]);
      const bool known = i < table.size() && table[i].fd == fd;
      if (known && !everything) {
        next.push_back(table[i++]);
        continue;
      }
      FdEntry e{};
      const bool open = read_new(fd, &e);
      if (known) {
        if (!open || e.inode != table[i].inode) uncredit_gone(table[i]);
        if (open && e.inode == table[i].inode) e.quiet = table[i].quiet;
        ++i;
      }
      if (!open) continue;
      next.push_back(e);
      if (!known || e.inode != table[i - 1].inode || wanted.contains(e.inode)) {
        classify(next.back());
      }
    }
    if (stopped || denied) {
      // Keep what was not reached as it was.
      while (i < table.size()) next.push_back(table[i++]);
      std::sort(next.begin(), next.end(),
                [](const FdEntry& a, const FdEntry& b) { return a.fd < b.fd; });
    } else {
      while (i < table.size()) uncredit_gone(table[i++]);
    }
    table.swap(next);
    if (table.capacity() > 2 * table.size() + 16) table.shrink_to_fit();
  };

  if (mode == SyncMode::kEverything) {
    reconcile(true);
  } else {
    // 1. Wanted sockets the table already shows (back in the dump after a
    // poll without them), and fds whose socket left the dump: closed, or
    // reused by a new socket.
    bool erased = false;
    int64_t departed = 0;  // fds whose socket left the dump since the last poll
    // Most fds hold a socket the dump showed at this very fd: the bitmap
    // answers for them without a cache look-up. The others' cache entries
    // are far apart in memory: load them a few fds ahead (the loop only
    // reads the table).
    const std::vector<uint64_t>& seen = SeenFdsOf(id);
    auto seen_here = [&seen](const FdEntry& e) {
      const size_t word = e.fd / 64;
      return word < seen.size() && ((seen[word] >> (e.fd % 64)) & 1U) != 0;
    };
    constexpr size_t kAhead = 48;
    for (size_t at = 0; at < table.size(); ++at) {
      if (at + kAhead < table.size() && !seen_here(table[at + kAhead])) {
        inodes_.Prefetch(table[at + kAhead].inode);
      }
      FdEntry& e = table[at];
      if (e.inode == 0) continue;
      if (wanted.contains(e.inode)) {
        e.quiet = 0;
        found.push_back({e.inode, e.fd});
        continue;
      }
      if (e.quiet || seen_here(e) || InDump(e.inode, wanted)) continue;
      if (Stopping()) {
        stopped = true;
        break;
      }
      ++stats_.fds_revalidated;
      ++departed;
      const uint32_t old_inode = e.inode;
      FdEntry now{};
      if (!read_new(e.fd, &now)) {
        if (denied) break;
        e.fd = kGoneFd;
        erased = true;
        continue;
      }
      if (now.inode == old_inode) {
        // Still open, twice not in the dump: UDP, UNIX, a TCP state not
        // asked for. Read again only when a socket cannot be found otherwise.
        e.quiet = 1;
        continue;
      }
      e.inode = now.inode;
      e.quiet = 0;
      classify(e);
    }
    if (erased) {
      std::erase_if(table, [](const FdEntry& e) { return e.fd == kGoneFd; });
    }
    // 2. fd numbers the table does not know, lowest first (the kernel hands
    // out the lowest free number): until the fd count is accounted for and
    // a run of kProbeRun numbers is free. The count is a moment of a process
    // that goes on opening and closing; fds closed after the dump still hold
    // sockets of the dump in the table, so it can say "done" early: the run
    // catches what it undercounts.
    const int64_t count = (stopped || denied) ? -1 : CountOpenFds(dir.get());
    if (!stopped && !denied) {
      const int64_t need = count >= 0 ? count - static_cast<int64_t>(table.size()) : 0;
      int64_t got = 0;
      int64_t misses = 0;
      int64_t run = 0;
      FdTable added;
      size_t i = 0;
      uint32_t candidate = 0;
      while (candidate < kGoneFd && !(got >= need && run >= kProbeRun) &&
             misses <= std::max<int64_t>(need, 0) + kProbeSlack) {
        if (i < table.size() && table[i].fd == candidate) {
          ++i;
          ++candidate;
          continue;
        }
        if (Stopping()) {
          stopped = true;
          break;
        }
        FdEntry e{};
        if (read_new(candidate, &e)) {
          added.push_back(e);
          ++got;
          run = 0;
        } else if (denied) {
          break;
        } else {
          ++misses;
          ++run;
        }
        ++candidate;
      }
      if (!added.empty()) {
        FdTable merged;
        merged.reserve(table.size() + added.size());
        std::merge(table.begin(), table.end(), added.begin(), added.end(),
                   std::back_inserter(merged),
                   [](const FdEntry& a, const FdEntry& b) { return a.fd < b.fd; });
        table.swap(merged);
        for (const FdEntry& a : added) {
          auto at = std::lower_bound(table.begin(), table.end(), a.fd,
                                     [](const FdEntry& e, uint32_t f) { return e.fd < f; });
          classify(*at);
        }
      }
    }
    // 3. The table still shows more (or fewer) fds than are open: fds were
    // closed whose socket is in the dump, which only a listing tells (a
    // socket the process gave up while it lives on elsewhere; one closed
    // after the dump, the next poll's suspects). A listing costs a third of
    // reading every link, so it is spaced out: at most every
    // fds/kFdsPerListingPoll polls for the same process. A process that
    // churns (sockets left the dump since the last poll) is almost never
    // consistent: the sockets it closed after the dump are still in the
    // table, and the next poll's suspects. A gap no larger than its churn is
    // most likely that, so it is listed kChurnListingSpacing times less often.
    const int64_t gap = count - static_cast<int64_t>(table.size());
    const bool consistent = count >= 0 && gap == 0;
    const bool churn_explains = count >= 0 && departed > 0 && std::abs(gap) <= departed;
    const uint32_t spacing = std::max<uint32_t>(
        1, static_cast<uint32_t>(table.size() * (churn_explains ? kChurnListingSpacing : 1) /
                                 kFdsPerListingPoll));
    if (!consistent && !stopped && !denied &&
        Reached(poll_, record->second.listed_poll + spacing)) {
      reconcile(false);
    }
  }

  record->second.table_sockets = static_cast<uint32_t>(std::count_if(
      table.begin(), table.end(), [](const FdEntry& e) { return e.inode != 0 && !e.quiet; }));
  if (denied) {
    ++stats_.errors_permission;
    if (pid != self_pid_) scan_denied_ = true;
  }
  if (found.empty()) return;
  // The pid may have been reused while we read its fds: only trust what we
  // read if the same process is still there.
  auto after = ReadProcessIdentity(proc_root_, pid);
  if (!after.ok() || after->start_time != start_time) {
    ++stats_.errors_vanished;
    ForgetOwner(id);
    return;
  }
  for (const Found& f : found) {
    wanted.erase(f.inode);
    inodes_.InsertOrAssign(f.inode, Entry(id, f.fd));
  }
}

void ProcOwnerDirectory::ScanProcess(int32_t pid, FlatHashSet<uint32_t>& wanted) {
  auto before = ReadProcessIdentity(proc_root_, pid);
  if (!before.ok()) {
    ++stats_.errors_vanished;
    return;
  }
  UniqueFd dir;
  if (!OpenFdDir(pid, &dir)) return;
  std::vector<uint32_t> listed;
  if (!ListFds(dir.get(), &listed)) {
    if (errno == ENOENT || errno == ESRCH) {
      ++stats_.errors_vanished;
    } else {
      ++stats_.errors_io;
    }
    return;
  }
  ++stats_.fd_dirs_listed;
  ++stats_.processes_scanned;
  FdTable table;
  table.reserve(listed.size());
  std::vector<Found> found;
  bool denied = false;
  for (uint32_t fd : listed) {
    if (Stopping()) break;  // what was found so far is still true
    uint32_t inode = 0;
    ++stats_.fds_read;
    const LinkResult result = ReadFdLink(dir.get(), fd, &inode);
    // Listing may be allowed while reading the links is not (a process
    // with capabilities we lack): that is a privilege problem, not I/O.
    if (result == LinkResult::kDenied) {
      denied = true;
      break;
    }
    if (result == LinkResult::kGone) continue;  // the fd was closed meanwhile
    table.push_back(FdEntry{fd & kFdMask, 0, result == LinkResult::kSocket ? inode : 0});
    if (result == LinkResult::kSocket && wanted.contains(inode)) found.push_back({inode, fd});
  }
  if (denied) {
    ++stats_.errors_permission;
    if (pid != self_pid_) scan_denied_ = true;
  }
  if (found.empty()) return;
  auto after = ReadProcessIdentity(proc_root_, pid);
  if (!after.ok() || after->start_time != before->start_time) {
    ++stats_.errors_vanished;
    return;
  }
  const OwnerId owner = OwnerFor(pid, after->comm, after->start_time);
  for (const Found& f : found) {
    wanted.erase(f.inode);
    inodes_.InsertOrAssign(f.inode, Entry(owner, f.fd));
  }
  // Sockets in the dump cached for another process (inherited by fork,
  // received): checked once, so one that process gave up moves here.
  for (const FdEntry& e : table) {
    if (e.inode != 0 && !wanted.contains(e.inode) && InDump(e.inode, wanted)) {
      Credit(owner, e.inode, e.fd, wanted);
    }
  }
  auto& record = owners_.at(owner);
  record.table_sockets = static_cast<uint32_t>(std::count_if(
      table.begin(), table.end(), [](const FdEntry& e) { return e.inode != 0 && !e.quiet; }));
  record.fds = std::move(table);
  record.synced_poll = poll_;
  record.listed_poll = poll_;
}

void ProcOwnerDirectory::RevalidateShared(FlatHashSet<uint32_t>& wanted, size_t limit) {
  if (shared_.empty() || limit == 0) return;
  std::vector<std::pair<OwnerId, uint32_t>> entries;  // (owner, fd)
  for (const auto& [id, owner] : owners_) {
    for (const FdEntry& e : owner.fds) {
      if (e.inode != 0 && shared_.contains(e.inode)) entries.emplace_back(id, e.fd);
    }
  }
  if (entries.empty()) return;
  std::sort(entries.begin(), entries.end());
  const size_t n = std::min(limit, entries.size());
  const size_t start = entries.size() <= limit ? 0 : (shared_cursor_ % entries.size());
  shared_cursor_ = start + n;
  for (size_t k = 0; k < n && !Stopping(); ++k) {
    const auto [id, fd] = entries[(start + k) % entries.size()];
    auto owner = owners_.find(id);
    if (owner == owners_.end()) continue;
    auto& table = owner->second.fds;
    auto at = std::lower_bound(table.begin(), table.end(), fd,
                               [](const FdEntry& e, uint32_t f) { return e.fd < f; });
    if (at == table.end() || at->fd != fd) continue;
    const auto path =
        proc_root_ / std::to_string(owner->second.info.pid) / "fd" / std::to_string(fd);
    char link[64];
    const ssize_t len = ::readlink(path.c_str(), link, sizeof(link));
    ++stats_.fds_read;
    ++stats_.fds_revalidated;
    if (len <= 0 && (errno == EACCES || errno == EPERM)) continue;
    uint32_t now = 0;
    if (len <= 0 ||
        !ParseProcLink(std::string_view(link, static_cast<size_t>(len)), "socket", &now)) {
      now = 0;
    }
    if (now == at->inode && len > 0) continue;
    const uint32_t old_inode = at->inode;
    if (len <= 0) {
      table.erase(at);
    } else {
      at->inode = now;
      at->quiet = 0;
    }
    Uncredit(id, old_inode, fd);
    if (now == 0) continue;
    if (wanted.contains(now)) {
      wanted.erase(now);
      inodes_.InsertOrAssign(now, Entry(id, fd));
    } else if (InDump(now, wanted)) {
      Credit(id, now, fd, wanted);
    }
  }
}

void ProcOwnerDirectory::Resolve(std::span<const uint32_t> inodes) {
  FlatHashSet<uint32_t> wanted;
  wanted.reserve(inodes.size());
  FlatHashSet<uint32_t> retried;  // missed by the previous poll's search too
  for (uint32_t inode : inodes) {
    wanted.insert(inode);
    const InodeEntry* entry = inodes_.Find(inode);
    if (entry != nullptr && entry->owner == kOwnerRetry) retried.insert(inode);
  }
  if (wanted.empty()) return;
  // Each wanted inode ends up cached, found or not: growing once, here, spares
  // the peak of rehashing (old and new array at once) in the middle of a scan.
  inodes_.Reserve(inodes_.size() + wanted.size());
  std::unordered_set<int32_t> scanned;
  scan_denied_ = false;
  ScanForWanted(wanted, scanned, retried);
  // A denial is a missing privilege only if we lack the capabilities; with
  // them, a few processes may still refuse (other user namespaces), which
  // the permission error counter shows.
  stats_.available = !scan_denied_ || has_read_capabilities_;
}

void ProcOwnerDirectory::ScanForWanted(FlatHashSet<uint32_t>& wanted,
                                       std::unordered_set<int32_t>& scanned,
                                       const FlatHashSet<uint32_t>& retried) {
  // Known owners first, busiest first: new sockets usually belong to
  // processes that already hold many. Only what changed in their fd tables
  // is read.
  std::vector<std::tuple<uint64_t, int32_t, OwnerId>> known;
  for (const auto& [id, owner] : owners_) known.emplace_back(owner.sockets, owner.info.pid, id);
  std::sort(known.rbegin(), known.rend());
  for (const auto& [sockets, pid, id] : known) {
    if (wanted.empty() || Stopping()) break;
    scanned.insert(pid);
    SyncOwner(id, wanted, SyncMode::kChanges);
  }
  if (wanted.empty()) {
    ++stats_.partial_scans;
    return;
  }
  if (Stopping()) return;  // shutting down: leave the rest unsearched, not 'unknown'

  ++stats_.full_scans;
  const UniqueDir proc = OpenDir(proc_root_.c_str());
  if (proc == nullptr) {
    ++stats_.errors_io;
    return;
  }
  while (dirent* entry = ::readdir(proc.get())) {
    if (wanted.empty() || Stopping()) break;
    int32_t pid = 0;
    if (!ParsePid(entry->d_name, &pid) || scanned.contains(pid)) continue;
    if (!scan_netns_.empty() && !InScannedNamespace(pid)) continue;
    ScanProcess(pid, wanted);
  }
  // An aborted scan proves nothing about the processes it did not reach.
  if (Stopping()) return;
  // A cached fd of a shared socket (one more process holds it) may have been
  // closed and its number reused for a wanted socket, the old socket living
  // on in the other process: nothing else shows that, so read those fds.
  if (!wanted.empty()) RevalidateShared(wanted, shared_.size() * 2 + 16);
  if (Stopping()) return;
  // Missing a second time (a socket missed once usually died between the
  // dump and the search, or the dump saw its fd's old and new socket both):
  // a cached fd may point elsewhere than the cache says while its old socket
  // lives on in another process (closed after a fork or a pass, the fd
  // number reused): read every known owner's table.
  bool resync = false;
  wanted.ForEach([&](uint32_t inode) { resync = resync || retried.contains(inode); });
  if (resync) {
    for (const auto& [sockets, pid, id] : known) {
      if (wanted.empty() || Stopping()) break;
      ++stats_.table_resyncs;
      SyncOwner(id, wanted, SyncMode::kEverything);
    }
    if (Stopping()) return;
  }
  // Not held by any process we can see (another pid namespace, in flight in
  // SCM_RIGHTS, exited since the dump, or we lack privileges): not searched
  // again every poll.
  wanted.ForEach([&](uint32_t inode) {
    if (retried.contains(inode)) {
      inodes_.InsertOrAssign(inode, Entry(kOwnerUnknown, poll_ + kNegativeRetryPolls));
    } else {
      inodes_.InsertOrAssign(inode, Entry(kOwnerRetry, poll_ + 1));
    }
  });
}

bool ProcOwnerDirectory::InScannedNamespace(int32_t pid) const {
  uint64_t inode = 0;
  if (!ReadNetnsInode(proc_root_ / std::to_string(pid) / "ns" / "net", &inode)) {
    return true;  // unknown: do not skip what might hold the socket
  }
  return std::find(scan_netns_.begin(), scan_netns_.end(), inode) != scan_netns_.end();
}

void ProcOwnerDirectory::MeasureOwners() {
  const bool counted = counts_fds_ || count_by_listing_;
  if (!counted && !recorded_tree_) return;
  for (auto& [id, owner] : owners_) {
    if (Stopping()) return;
    if (owner.counted_poll != poll_) {
      const auto path = proc_root_ / std::to_string(owner.info.pid) / "fd";
      UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      std::vector<uint32_t> listed;
      if (!dir.valid()) {
        owner.info.open_fds = -1;
      } else if (counted) {
        owner.info.open_fds = CountOpenFds(dir.get());
      } else {
        owner.info.open_fds =
            ListFds(dir.get(), &listed) ? static_cast<int64_t>(listed.size()) : -1;
      }
      // Only a count EndPoll may use: on a recorded tree it lists itself.
      if (counted) owner.counted_poll = poll_;
    }
    if (!owner.limit_read && owner.info.open_fds >= 0) {
      // A record is made per (pid, start time): a new process behind a
      // reused pid gets its limit read anew.
      auto limit = ReadOpenFilesLimit(proc_root_, owner.info.pid);
      owner.info.max_fds = limit.ok() ? limit->soft : -1;
      owner.limit_read = true;
    }
  }
}

void ProcOwnerDirectory::EndPoll() {
  // Also shrinks the cache when most of it went away. Sockets are counted
  // per owner in a small flat map (in cache), not with a look-up of owners_
  // per socket.
  poll_ended_ = true;
  DropUnseen();
  for (auto& [id, owner] : owners_) {
    const uint64_t* count = socket_counts_.Find(id);
    owner.sockets = count != nullptr ? *count : 0;
  }
  shared_.EraseIf([this](uint32_t inode, uint32_t) {
    const InodeEntry* entry = inodes_.Find(inode);
    return entry == nullptr || !SeenThisPoll(*entry);
  });
  if (Stopping()) return;
  // A process that gave up its copy of a shared socket and reused the fd
  // number for anything else shows no other sign: a bounded number of those
  // fds is read each poll, in turn.
  {
    FlatHashSet<uint32_t> none;
    RevalidateShared(none, kSharedChecksPerPoll);
  }
  // Owners whose table this poll did not read: fewer of their sockets in the
  // dump than the table shows, or an fd count that differs from the table,
  // means fds were closed or opened, maybe one holding a socket that lives on
  // elsewhere (passed on, inherited): bring the table up to date (reading
  // what changed) so that the next poll does not credit a socket to a process
  // that gave it up.
  std::vector<OwnerId> stale;
  for (const auto& [id, owner] : owners_) {
    if (owner.synced_poll == poll_ || owner.fds.empty()) continue;
    bool changed = owner.sockets != owner.table_sockets;
    if (!changed && (counts_fds_ || count_by_listing_)) {
      int64_t count = owner.info.open_fds;  // MeasureOwners counted it this poll
      if (owner.counted_poll != poll_) {
        const auto path = proc_root_ / std::to_string(owner.info.pid) / "fd";
        UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        count = dir.valid() ? CountOpenFds(dir.get()) : -1;
      }
      changed = count >= 0 && static_cast<size_t>(count) != owner.fds.size();
    }
    if (changed) stale.push_back(id);
  }
  FlatHashSet<uint32_t> wanted;
  for (OwnerId id : stale) SyncOwner(id, wanted, SyncMode::kChanges);
}

std::optional<uint32_t> ProcOwnerDirectory::FdOf(uint32_t inode) const {
  const InodeEntry* entry = inodes_.Find(inode);
  if (entry == nullptr || entry->owner == kOwnerUnknown || entry->owner == kOwnerRetry) {
    return std::nullopt;
  }
  return Aux(*entry);
}

void ProcOwnerDirectory::DropUnseen() {
  socket_counts_.Clear();
  inodes_.EraseIf([this](uint32_t, const InodeEntry& entry) {
    if (!SeenThisPoll(entry)) return true;
    ++socket_counts_[entry.owner];
    return false;
  });
}

const OwnerInfo& ProcOwnerDirectory::Owner(OwnerId id) const {
  auto it = owners_.find(id);
  return it == owners_.end() ? unknown_ : it->second.info;
}

}  // namespace tcpstate
