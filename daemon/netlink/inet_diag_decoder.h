// Decodes the datagrams of a sock_diag dump into SocketRecords. Pure: bytes
// in, records out, every length checked; the transport lives elsewhere.
#pragma once

#include <cstdint>
#include <span>

#include "common/result.h"
#include "netlink/socket_record.h"

namespace tcpstate {

class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnRecord(const SocketRecord& record) = 0;
  // The records of one datagram, in dump order. A sink that looks records up
  // in tables larger than the CPU cache overrides it to prefetch first.
  virtual void OnRecords(std::span<const SocketRecord> records) {
    for (const SocketRecord& record : records) OnRecord(record);
  }
};

// What a reply must carry to belong to our request.
struct DumpIdentity {
  uint32_t seq = 0;
  uint32_t portid = 0;
  // Records carry the request's type: SOCK_DIAG_BY_FAMILY (20,
  // linux/sock_diag.h), or TCPDIAG_GETSOCK (18, linux/inet_diag.h) for the
  // legacy request.
  uint16_t record_type = 20;
};

enum class ChunkStatus { kMore, kDone };

struct ChunkStats {
  uint64_t records = 0;
  // The kernel set NLM_F_DUMP_INTR: the table changed under the dump.
  bool interrupted = false;
};

// Failures are Errors of kind kTruncated, kInvalid, kUnexpected (another
// sequence number or port), kKernelError (NLMSG_ERROR) or kKernelDoneError
// (an error inside NLMSG_DONE), errnum the kernel's error for the last two.

// Decodes one datagram. Returns kDone once NLMSG_DONE was seen. An error
// inside NLMSG_DONE or an NLMSG_ERROR fails the dump.
Result<ChunkStatus> DecodeDumpChunk(std::span<const uint8_t> datagram, const DumpIdentity& identity,
                                    RecordSink& sink, ChunkStats& stats);

}  // namespace tcpstate
