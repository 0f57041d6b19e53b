// Move-only owner of a directory stream (opendir/fdopendir): closedir on
// every path out.
#pragma once

#include <dirent.h>

#include <memory>

namespace tcpstate {

struct DirCloser {
  void operator()(DIR* dir) const { ::closedir(dir); }
};
using UniqueDir = std::unique_ptr<DIR, DirCloser>;

inline UniqueDir OpenDir(const char* path) { return UniqueDir(::opendir(path)); }

}  // namespace tcpstate
