#include "netns/pod_files.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>  // struct open_how, RESOLVE_*
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "netns/pod_identity_failure.h"

namespace tcpstate {
namespace {

// Not all of these are in linux/magic.h.
constexpr std::array<int64_t, 9> kBlockingFilesystems = {
    0x65735546,  // FUSE_SUPER_MAGIC
    0x6969,      // NFS_SUPER_MAGIC
    0xff534d42,  // CIFS_SUPER_MAGIC
    0xfe534d42,  // SMB2_SUPER_MAGIC
    0x517b,      // SMB_SUPER_MAGIC
    0x01021997,  // V9FS_MAGIC
    0x00c36400,  // CEPH_SUPER_MAGIC
    0x47504653,  // GPFS
    0x6b414653,  // AFS_FS_MAGIC
};

PodFileProblem ProblemFromErrno(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EXDEV:  // RESOLVE_IN_ROOT refused an escape
      return PodFileProblem::kMissing;
    case ELOOP:
      return PodFileProblem::kSymlinkLoop;
    default:
      return PodFileProblem::kError;
  }
}

// openat2 has no glibc 2.36 wrapper.
int OpenInRoot(int root, std::string_view path, uint64_t flags) {
  open_how how{};
  how.flags = flags;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  const std::string p(path);
  for (int attempt = 0; attempt < 8; ++attempt) {
    const long fd = ::syscall(SYS_openat2, root, p.c_str(), &how, sizeof(how));
    // EAGAIN: a rename raced with the lookup (RESOLVE_IN_ROOT retries are ours).
    if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) return static_cast<int>(fd);
  }
  return -1;
}

PodFile Problem(PodFileProblem problem) { return PodFile{problem, {}}; }

}  // namespace

std::string_view PodFileProblemLabel(PodFileProblem problem) {
  // One name table for both: PodIdentityFailureName.
  if (problem == PodFileProblem::kNone) return "none";
  return PodIdentityFailureName(PodIdentityFailureOf(problem));
}

UniqueFd OpenPodRoot(const std::string& proc_root, int32_t pid) {
  const std::string path = proc_root + "/" + std::to_string(pid) + "/root";
  return UniqueFd(::open(path.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

PodFile ReadPodFile(const UniqueFd& root, std::string_view relative_path, size_t limit) {
  if (!root.valid()) return Problem(PodFileProblem::kError);
  while (!relative_path.empty() && relative_path.front() == '/') relative_path.remove_prefix(1);
  // O_PATH first: looking at the file opens nothing, so a device's open()
  // (a watchdog, a tape) never runs and a FIFO cannot block.
  UniqueFd path_fd(OpenInRoot(root.get(), relative_path, O_PATH | O_CLOEXEC));
  if (!path_fd.valid()) return Problem(ProblemFromErrno(errno));
  struct stat st {};
  if (::fstat(path_fd.get(), &st) != 0) return Problem(ProblemFromErrno(errno));
  if (!S_ISREG(st.st_mode)) return Problem(PodFileProblem::kNotRegular);
  if (st.st_size < 0 || static_cast<uint64_t>(st.st_size) > limit) {
    return Problem(PodFileProblem::kTooLarge);
  }
  // Reopen the very file the O_PATH fd holds (no second lookup to race).
  const std::string self = "/proc/self/fd/" + std::to_string(path_fd.get());
  UniqueFd fd(::open(self.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
  if (!fd.valid()) return Problem(ProblemFromErrno(errno));
  struct stat again {};
  if (::fstat(fd.get(), &again) != 0 || again.st_ino != st.st_ino || again.st_dev != st.st_dev ||
      !S_ISREG(again.st_mode)) {
    return Problem(PodFileProblem::kError);
  }
  struct statfs fs {};
  if (::fstatfs(fd.get(), &fs) != 0) return Problem(ProblemFromErrno(errno));
  for (int64_t magic : kBlockingFilesystems) {
    if (static_cast<int64_t>(fs.f_type) == magic) return Problem(PodFileProblem::kUnsafeFilesystem);
  }
  // One byte more than the limit tells a file that grew since fstat.
  PodFile out;
  out.content.resize(limit + 1);
  size_t got = 0;
  while (got < out.content.size()) {
    const ssize_t n = ::pread(fd.get(), out.content.data() + got, out.content.size() - got,
                              static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Problem(ProblemFromErrno(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  if (got > limit) return Problem(PodFileProblem::kTooLarge);
  out.content.resize(got);
  return out;
}

}  // namespace tcpstate
