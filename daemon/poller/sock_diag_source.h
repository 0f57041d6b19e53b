// The socket table of one network namespace, read through sock_diag
// (netlink/tcp_table_reader.h) into that namespace's aggregator, and what
// the reads cost and how they failed, counted for the snapshot.
//
// Thread-safety: Read runs on the thread that is in the namespace, Account
// and EndPoll on the poll thread, never at the same time (the poll thread
// waits for each namespace's read).
#pragma once

#include <memory>
#include <string>

#include "netlink/netlink_transport.h"
#include "netlink/tcp_table_reader.h"
#include "netns/netns_discovery.h"
#include "snapshot/snapshot.h"

namespace tcpstate {

class SockDiagSource {
 public:
  SockDiagSource(TransportFactory& transports, uint32_t max_retries)
      : reader_(transports, max_retries) {}

  // A reload's netlink_dump_retries. The reader is kept: rebuilding it would
  // forget a refused legacy request and repeat the refusal after every reload.
  void set_max_retries(uint32_t max_retries) { reader_.set_max_retries(max_retries); }

  // Reads the table of the calling thread's namespace into `sink`.
  Status Read(TableSink& sink, TableReadStats& stats, const ReadOptions& options) {
    return reader_.Read(sink, stats, options);
  }

  // Counts one namespace's read in `self` (retries, foreign datagrams, errors
  // by reason, deadlines) and logs a failure once per distinct message.
  void Account(const NetnsInfo& netns, const Status& status, const TableReadStats& stats,
               SelfStats& self);
  // End of the poll's reads: logs the recovery after failures.
  void EndPoll(bool all_ok);

 private:
  TcpTableReader reader_;
  std::string last_error_;
};

}  // namespace tcpstate
