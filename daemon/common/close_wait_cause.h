// Why a CLOSE_WAIT socket is still there, from the two fields every
// inet_diag record carries (linux/inet_diag.h: idiag_inode, idiag_rqueue).
// The peer has closed; measured on Linux 6.18 (tests/e2e/live_netns_test.py):
//  * not_accepted: inode 0. No file exists, so the connection still sits in
//    its listener's accept queue: the server is stuck or overloaded, not
//    leaking. Recv-Q is >= 1 (the FIN counts one, plus unread data).
//  * not_reading: an owner and Recv-Q >= 1: the application has not read up
//    to the EOF since the peer closed (Recv-Q is the unread bytes plus 1 for
//    the FIN; exactly 1 when all data was read but not the EOF).
//  * not_closed: an owner and Recv-Q 0: the application read the EOF (recv()
//    returned 0, which consumes the FIN) and never called close().
// One name table, shared by the exposition and the drill-down pages.
//
// Thread-safety: constants and pure functions only.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace tcpstate {

enum class CloseWaitCause : uint8_t {
  kNotClosed = 0,
  kNotReading = 1,
  kNotAccepted = 2,
};

inline constexpr size_t kCloseWaitCauseCount = 3;

inline constexpr std::array<CloseWaitCause, kCloseWaitCauseCount> kCloseWaitCauses = {
    CloseWaitCause::kNotClosed, CloseWaitCause::kNotReading, CloseWaitCause::kNotAccepted};

// The `cause` label value.
constexpr std::string_view CloseWaitCauseName(CloseWaitCause cause) {
  switch (cause) {
    case CloseWaitCause::kNotClosed:
      return "not_closed";
    case CloseWaitCause::kNotReading:
      return "not_reading";
    case CloseWaitCause::kNotAccepted:
      return "not_accepted";
  }
  return "not_closed";  // unreachable: every enumerator is handled
}

// `inode` and `rqueue` of a CLOSE_WAIT record (SocketRecord).
constexpr CloseWaitCause ClassifyCloseWait(uint32_t inode, uint32_t rqueue) {
  if (inode == 0) return CloseWaitCause::kNotAccepted;
  return rqueue == 0 ? CloseWaitCause::kNotClosed : CloseWaitCause::kNotReading;
}

}  // namespace tcpstate
