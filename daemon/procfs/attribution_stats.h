// What socket attribution (procfs/proc_owner_directory.h) did in the latest
// poll: published in the snapshot, rendered as tcpstate_attribution_* metrics.
#pragma once

#include <cstdint>

namespace tcpstate {

struct AttributionStats {
  uint64_t fds_read = 0;
  uint64_t processes_scanned = 0;
  uint64_t partial_scans = 0;
  uint64_t full_scans = 0;
  uint64_t errors_vanished = 0;
  uint64_t errors_permission = 0;
  uint64_t errors_io = 0;
  // Listings of /proc/<pid>/fd (getdents64), links read of fds that were
  // closed or reused (included in fds_read), and owners whose whole table
  // was read again because a socket could not be found otherwise.
  uint64_t fd_dirs_listed = 0;
  uint64_t fds_revalidated = 0;
  uint64_t table_resyncs = 0;
  // Cache look-ups made to tell whether the socket an fd table shows is in
  // the dump (a search of a known owner skips the fds the dump showed).
  uint64_t cache_probes = 0;
  // False when a scan met a process whose fds we may not read and we lack
  // CAP_DAC_READ_SEARCH + CAP_SYS_PTRACE: sockets of other users' processes
  // cannot be attributed.
  bool available = true;
};

}  // namespace tcpstate
