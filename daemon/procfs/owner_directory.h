// Who owns a socket inode. The aggregator asks during the dump (cache only,
// cheap) and once after it for the inodes it could not place; procfs/
// implements it over /proc, tests substitute it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace tcpstate {

using OwnerId = uint32_t;
// A socket no process can hold (TIME_WAIT, NEW_SYN_RECV, orphans).
inline constexpr OwnerId kOwnerNone = 0xffffffffU;
// A socket with an owner we could not identify.
inline constexpr OwnerId kOwnerUnknown = 0xfffffffeU;

struct OwnerInfo {
  int32_t pid = 0;
  std::string name;  // label value: valid UTF-8, grouped by config
  // Open fds at this poll and the soft RLIMIT_NOFILE; -1 unknown (a kernel
  // before 6.2, a failed read; the limit also when unlimited).
  int64_t open_fds = -1;
  int64_t max_fds = -1;
};

class OwnerDirectory {
 public:
  virtual ~OwnerDirectory() = default;
  // Start of a poll: forget owners that exited or were replaced.
  virtual void BeginPoll() = 0;
  // Cache lookup, no I/O. Marks the inode as still alive.
  virtual std::optional<OwnerId> Lookup(uint32_t inode) = 0;
  // A hint that Lookup(inode) follows soon: a cache larger than the CPU's
  // can start loading the entry (no effect on results).
  virtual void Prefetch(uint32_t /*inode*/) const {}
  // Finds the owners of `inodes` (all Lookup misses); may scan /proc.
  virtual void Resolve(std::span<const uint32_t> inodes) = 0;
  // After Resolve, before the tables ask Owner(): measures each owner's open
  // fds (OwnerInfo::open_fds, max_fds).
  virtual void MeasureOwners() {}
  // End of a poll: drop cache entries for sockets that are gone.
  virtual void EndPoll() = 0;
  virtual const OwnerInfo& Owner(OwnerId id) const = 0;
  // The fd number its owner holds `inode` at, if known (cache only, no I/O;
  // the drill-down pages show it).
  virtual std::optional<uint32_t> FdOf(uint32_t /*inode*/) const { return std::nullopt; }
};

}  // namespace tcpstate
