// The immutable result of one successful sock_diag poll, with every label
// value final (caps applied). Rendering reads it; nothing writes it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "aggregate/port_classifier.h"
#include "common/close_wait_cause.h"

namespace tcpstate {

struct PortSeries {
  uint8_t state;
  Direction direction;
  std::string port;
  uint64_t sockets;
  // Bytes queued in those sockets (Recv-Q, Send-Q); 0 for listeners.
  uint64_t recv_bytes = 0;
  uint64_t send_bytes = 0;
};

struct ProcessSeries {
  std::string process;
  std::string pid;  // empty unless the pid label is enabled
  uint8_t state;
  uint64_t sockets;
  uint64_t recv_bytes = 0;
  uint64_t send_bytes = 0;
};

// The open fds of the processes behind one tcpstate_process_sockets label
// set: when several share it (no pid label, or (other)), the one nearest its
// limit, the first to hit "Too many open files".
struct ProcessFdSeries {
  std::string process;
  std::string pid;
  int64_t open_fds;
  int64_t max_fds;  // soft RLIMIT_NOFILE; -1 unknown
};

struct CloseWaitSeries {
  std::string process;
  std::string pid;
  Direction direction;
  std::string port;
  CloseWaitCause cause;
  uint64_t sockets;
  double oldest_age_seconds;
  std::vector<uint64_t> aged_sockets;  // one per configured age threshold
};

struct ListenSeries {
  std::string port;
  uint64_t queue;
  uint64_t backlog;
  uint64_t drops;     // SK_MEMINFO_DROPS summed over the port's listeners
  uint64_t syn_recv;  // inbound SYN_RECV + NEW_SYN_RECV sockets of the port
};

struct OutboundSeries {
  std::string port;
  uint64_t max_local_ports;
};

// One row of a drill-down page (aggregate/socket_detail.h): the CLOSE_WAIT
// or TIME_WAIT sockets of one process, direction, port and remote address.
// CLOSE_WAIT rows are also split by cause (common/close_wait_cause.h), like
// the tcpstate_close_wait_* series.
struct DetailRow {
  std::string process;  // CLOSE_WAIT: owner name, "(none)", "(unknown)"; TIME_WAIT: empty
  int32_t pid = 0;      // 0: no process
  Direction direction = Direction::kInbound;
  int32_t local_port = -1;  // -1: folded (the client side of an outbound socket)
  std::string remote_address;
  int32_t remote_port = -1;  // -1: folded (the client side of an inbound socket)
  uint64_t sockets = 0;
  double oldest_age_seconds = 0;                      // CLOSE_WAIT only
  CloseWaitCause cause = CloseWaitCause::kNotClosed;  // CLOSE_WAIT only
  std::vector<uint32_t> fds;  // some of its sockets' fd numbers (top rows only)
};

struct DetailTable {
  bool enabled = false;               // pages.enabled when the dump was read
  std::vector<DetailRow> close_wait;  // busiest first
  uint64_t close_wait_not_shown = 0;  // sockets beyond pages.max_groups
  std::vector<DetailRow> time_wait;   // busiest first
  uint64_t time_wait_not_shown = 0;
  PortRange local_port_range;  // ip_local_port_range of the namespace
};

struct SocketTable {
  std::array<uint64_t, 256> by_state{};
  uint64_t total = 0;
  std::vector<PortSeries> ports;
  bool processes_enabled = false;
  bool pid_label = false;
  std::vector<ProcessSeries> processes;
  std::vector<ProcessFdSeries> process_fds;
  std::vector<std::chrono::seconds> age_thresholds;
  std::vector<CloseWaitSeries> close_wait;
  std::vector<ListenSeries> listeners;
  std::vector<OutboundSeries> outbound;
  uint64_t folded_ports = 0;
  uint64_t folded_processes = 0;
  DetailTable detail;
};

}  // namespace tcpstate
