#include "common/small_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "common/unique_fd.h"

namespace tcpstate {

Result<std::string> ReadSmallFile(const std::string& path, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open " + path);
  std::string content;
  size_t chunk = std::min<size_t>(limit, 4096);
  while (content.size() < limit) {
    const size_t at = content.size();
    content.resize(std::min(limit, at + chunk));
    const ssize_t n = ::read(fd.get(), content.data() + at, content.size() - at);
    if (n < 0 && errno == EINTR) {
      content.resize(at);
      continue;
    }
    if (n < 0) return ErrnoError(errno, "read " + path);
    content.resize(at + static_cast<size_t>(n));
    if (n == 0) break;
    chunk *= 2;
  }
  return content;
}

}  // namespace tcpstate
