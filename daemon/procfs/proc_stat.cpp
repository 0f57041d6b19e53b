#include "procfs/proc_stat.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "common/unique_fd.h"

namespace tcpstate {

Result<ProcessIdentity> ParseProcStat(std::string_view content) {
  const size_t open = content.find('(');
  const size_t close = content.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return MakeError(ErrorKind::kInvalid, "stat: no (comm)");
  }
  ProcessIdentity identity;
  identity.comm = std::string(content.substr(open + 1, close - open - 1));
  // Fields after comm start with field 3 (state); starttime is field 22.
  std::string_view rest = content.substr(close + 1);
  int field = 2;
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    if (pos >= rest.size()) break;
    size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    ++field;
    if (field == 22) {
      auto [ptr, ec] = std::from_chars(rest.data() + pos, rest.data() + end, identity.start_time);
      if (ec != std::errc()) return MakeError(ErrorKind::kInvalid, "stat: bad starttime");
      return identity;
    }
    pos = end;
  }
  return MakeError(ErrorKind::kInvalid, "stat: too few fields");
}

Result<ProcessIdentity> ReadProcessIdentity(const std::filesystem::path& proc_root, int32_t pid) {
  const auto path = proc_root / std::to_string(pid) / "stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoError(errno, "open " + path.string());
  char buffer[1024];
  const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
  if (n < 0) return ErrnoError(errno, "read " + path.string());
  return ParseProcStat(std::string_view(buffer, static_cast<size_t>(n)));
}

}  // namespace tcpstate
