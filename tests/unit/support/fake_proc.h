// A fake /proc tree in a temporary directory: processes with stat files and
// fd symlinks to "socket:[inode]", sysctls and net/netstat.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace tcpstate::testing {

class FakeProc {
 public:
  FakeProc() {
    std::random_device rd;
    root_ = std::filesystem::temp_directory_path() /
            ("tcpstate-fakeproc-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(root_);
  }
  ~FakeProc() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeProc(const FakeProc&) = delete;
  FakeProc& operator=(const FakeProc&) = delete;

  const std::filesystem::path& root() const { return root_; }

  void AddProcess(int pid, const std::string& comm, uint64_t start_time) {
    const auto dir = root_ / std::to_string(pid);
    std::filesystem::create_directories(dir / "fd");
    WriteStat(pid, comm, start_time);
  }
  void WriteStat(int pid, const std::string& comm, uint64_t start_time) {
    // Appended piecewise: `to_string(pid) + " (" + ...` trips GCC 12's false
    // -Wrestrict at -O3 (GCC bug 105329), an error with TCPSTATE_WERROR.
    std::string stat = std::to_string(pid);
    stat += " (";
    stat += comm;
    stat += ") S";
    for (int field = 4; field <= 21; ++field) stat += " 0";
    stat += ' ';
    stat += std::to_string(start_time);
    stat += " 0 0\n";
    Write(std::to_string(pid) + "/stat", stat);
  }
  void AddSocketFd(int pid, int fd, uint32_t inode) {
    std::filesystem::create_symlink("socket:[" + std::to_string(inode) + "]",
                                    root_ / std::to_string(pid) / "fd" / std::to_string(fd));
  }
  void AddOtherFd(int pid, int fd, const std::string& target) {
    std::filesystem::create_symlink(target,
                                    root_ / std::to_string(pid) / "fd" / std::to_string(fd));
  }
  void RemoveFd(int pid, int fd) {
    std::filesystem::remove(root_ / std::to_string(pid) / "fd" / std::to_string(fd));
  }
  void RemoveProcess(int pid) { std::filesystem::remove_all(root_ / std::to_string(pid)); }
  void Write(const std::string& relative, const std::string& content) {
    const auto path = root_ / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << content;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace tcpstate::testing
