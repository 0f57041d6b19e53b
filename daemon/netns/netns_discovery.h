// Finds the network namespaces on the node from /proc/<pid>/ns/net links,
// deduplicated by namespace inode, and what pod each belongs to.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "netns/pod_identity.h"

namespace tcpstate {

struct NetnsInfo {
  uint64_t inode = 0;
  bool host = false;          // the namespace of pid 1
  std::vector<int32_t> pids;  // a few members, to open the namespace through
  PodIdentity pod;
  // From namespaces.pod_names (netns/pod_identifier.h): the kubelet's, or
  // what the pod itself claims.
  std::string pod_name;
  std::string pod_namespace;
};

struct DiscoveryStats {
  uint64_t unreadable = 0;  // processes whose ns link we may not read
};

// Inode of "net:[4026531840]".
bool ParseNetnsLink(std::string_view link, uint64_t* inode);

// Reads and parses a /proc/<pid>/ns/net link; false (errno set when readlink
// failed) if it cannot.
bool ReadNetnsInode(const std::filesystem::path& link_path, uint64_t* inode);

// Every namespace with at least one process, host first, then by inode. The
// host namespace is pid 1's; where its link cannot be read (some sandboxes),
// `fallback_host` (the exporter's own) is taken for it.
std::vector<NetnsInfo> DiscoverNetns(const std::filesystem::path& proc_root, uint64_t fallback_host,
                                     DiscoveryStats& stats);

// Opens the namespace through one of its processes (they may exit meanwhile).
// ENOENT when none is left: the namespace vanished.
Result<UniqueFd> OpenNetns(const std::filesystem::path& proc_root, const NetnsInfo& info);

// Moves the calling thread into the namespace (needs CAP_SYS_ADMIN).
Status EnterNetns(const UniqueFd& netns);

}  // namespace tcpstate
